"""What code reads from Chinese text: titles glued before names, 、-lists, 记者 bylines.

Chinese writes the title straight before the name with no separator ("市委书记周启航"), joins
two titles of one person with 、 ("市委副书记、市长林晓峰"), and lets one title cover a 、-list of
names ("副市长李红梅、艾克拜尔·吐尔洪"). Names are two to four characters starting with a family
name, or transliterations of any length joined by an interpunct; where a name ends in running
text is read only after a title and before a mark or a verb. Credits name reporters
(记者), correspondents (通讯员) and photographers (摄) right beside the name.
"""

from __future__ import annotations

import re

from bot.core.reading.matching import names_another, normalize
from bot.core.reading.readers import Role
from bot.core.reading.readers.words import word_list
from bot.core.reading.script import CJK

_SURNAMES = frozenset("".join(word_list("chinese", "surnames")))
_COMPOUND_SURNAMES = tuple(sorted(word_list("chinese", "compound_surnames")))
_BODY_ENDINGS = tuple(sorted(word_list("chinese", "body_endings"), key=len, reverse=True))
TITLE_WORDS = tuple(sorted(word_list("chinese", "titles"), key=len, reverse=True))
_PREDICATE_OPENERS = word_list("chinese", "predicate_openers")
_TITLE = re.compile("|".join(sorted(TITLE_WORDS, key=len, reverse=True)))
# Commitments, plans and what is required of others: "will" (将), "must" (要, 必须), "strive to"
# (力争), "ensure" (确保), "plans to" (计划, 拟), "promise" (承诺).
# 要 right before a mark is a noun or "want" (吃拿卡要、), never the modal, which takes a verb.
_COMMITMENT_MARK = re.compile(
    r"将(?!近|军)|要(?!求|点|素|闻|[、，。；：])|必须|力争|确保|计划|拟|承诺|推动"
)
_WISHES = tuple(sorted(word_list("chinese", "wishes")))
_COGNITION = tuple(sorted(word_list("chinese", "cognition")))
_ADVERBS = re.compile(
    "^(?:"
    + "|".join(sorted(word_list("chinese", "predicate_adverbs"), key=len, reverse=True))
    + ")+"
)
_DUTIES = ("要", "必须")
_SUBJECT_START = re.compile(r"[，。；：,;:]|表示|指出|强调|要求|认为|提出|介绍|说")
# A date or a target a requirement is held to: 到2027年, 年内, 3月15日前, 每季度, 15个工作日以内,
# 80%以上, 50亿元.
_ZH_WHEN = re.compile(
    r"20\d\d年|今年|明年|年内|年底|月底|季度|每月|每年|每周|\d+月|[\d一二三四五六七八九十两]+个?"
    r"(?:工作日|小时|日|天|周|月|年)(?:内|以内)|\d+(?:\.\d+)?(?:%|万|亿|家|个|人|项)"
)
_CREDITS = re.compile(r"(?:记者|通讯员|摄影|编辑|责编|审核|校对|实习生|供稿|本报讯)[\s：:]*$")
_GROUP_BREAK = re.compile(r"[，,；;。：:（）()\s]")
_LIST_BREAK = "、"
# What may follow a name right after its title: a mark, or a verb that starts the predicate.
_NAME_ENDS = re.compile(
    r"[、，,。；;：:（(“\"]|表示|指出|强调|说|介绍|通报|主持|致辞|发言|讲话|作为|出席|宣布|要求|会见|"
    r"参加|调研|带队|一行|等|"
    + "|".join(sorted(word_list("chinese", "subject_adverbs"), key=len, reverse=True))
)
_INTERPUNCT_NAME = re.compile(r"[\u4e00-\u9fff]{1,8}(?:·[\u4e00-\u9fff]{1,8})+")


class ChineseReader:
    """Articles written mostly in CJK characters."""

    def split_title(self, name: str) -> tuple[str, str]:
        name = "".join(name.split())
        last = next(reversed(list(_TITLE.finditer(name))), None)
        if last is not None and last.end() < len(name) and self.is_person(name[last.end() :]):
            return name[: last.end()].strip("、，"), name[last.end() :]
        return "", name

    def is_person(self, name: str) -> bool:
        name = normalize(name).replace(" ", "")
        if not CJK.search(name):
            return False
        if "·" in name:
            parts = name.split("·")
            return all(1 <= len(p) <= 8 and all(CJK.match(c) for c in p) for p in parts)
        if not 2 <= len(name) <= 4 or not all(CJK.match(c) for c in name):
            return False
        if name.endswith(_BODY_ENDINGS) or _TITLE.search(name):
            return False
        return name[0] in _SURNAMES or name.startswith(_COMPOUND_SURNAMES)

    def short_forms(self, name: str, text: str = "") -> list[str]:
        return []

    def _is_name_in(self, text: str, name: str) -> bool:
        return self.is_person(name) or self.written_as_name(text, name)

    def written_as_name(self, text: str, name: str) -> bool:
        """A name whose family name is not on the common list (祁, 訾, 阚...) is still a name
        where the article writes it in a name's place: glued after a title and ended by a
        mark, a verb or a preposition ("副市长阚钧骞、"), as a member of a 、-list, or opening a
        clause before one ("阚钧表示", "晋瑾骁在讲话中")."""
        name = normalize(name).replace(" ", "")
        if not 2 <= len(name) <= 3 or not all(CJK.match(c) for c in name):
            return False
        if name.endswith(_BODY_ENDINGS) or _TITLE.search(name) or _NAME_ENDS.search(name):
            return False  # a body, a title, or a verb after a title ("发言", "等参加")
        if name[0] in _PREDICATE_OPENERS:
            return False
        for found in re.finditer(re.escape(name), text):
            before, after = text[max(0, found.start() - 8) : found.start()], text[found.end() :]
            ends = not after or _NAME_ENDS.match(after) or after[:1] in _PREDICATE_OPENERS
            opens = not before or before.endswith((*TITLE_WORDS, _LIST_BREAK, *"。，；：\n"))
            if ends and opens:
                return True
        return False

    def is_surname(self, name: str) -> bool:
        return False  # a Chinese name is written whole; a lone surname is no name

    def reads_as_body(self, text: str, name: str) -> bool:
        return False  # is_person already reads body endings (市, 局, 公司)

    def list_role(self, sentence: str, start: int, end: int, others: list[str]) -> Role | None:
        return None  # a 、-list's title is read by role_beside, glued to the first name

    def has_position(self, sentence: str) -> bool:
        return _TITLE.search(sentence) is not None

    def is_not_office(self, sentence: str, start: int, end: int) -> bool:
        return False  # credits (记者, 通讯员) are read by is_credit

    def role_beside(self, sentence: str, start: int, end: int, others: list[str]) -> Role | None:
        group_start = max((m.end() for m in _GROUP_BREAK.finditer(sentence, 0, start)), default=0)
        items = sentence[group_start:start].split(_LIST_BREAK)
        own = items[-1]
        title = own if _TITLE.search(own) and own.endswith(TITLE_WORDS) else ""
        # Earlier 、-items that are titles only belong to this person too ("市委副书记、市长").
        index = len(items) - 1
        while (
            title
            and index > 0
            and _TITLE.search(items[index - 1])
            and not names_another(items[index - 1], others)
        ):
            index -= 1
        if title:
            span_start = group_start + sum(len(i) + 1 for i in items[:index])
            return Role("、".join(items[index:]), "", (span_start, end))
        if not own and len(items) > 1:
            # "副市长李红梅、艾克拜尔·吐尔洪", "市领导A、B、C": one title before a 、-list of bare
            # names covers every name in it; a member with its own title breaks the list.
            head = items[0]
            found = _TITLE.search(head)
            members = [head[found.end() :] if found else "", *items[1:-1]]
            if (
                found is not None
                and head.endswith(members[0])
                and all(
                    self._is_name_in(sentence, m) or names_another(m, others) for m in members if m
                )
                and all(not _TITLE.search(m) for m in members)
            ):
                return Role(head[: found.end()], "", (group_start, end))
        return None

    def listed_names(self, sentence: str) -> list[str]:
        """Names glued after a title and ended by a mark or a verb of speech or action
        ("主任黄国栋通报", "董事长宋嘉禾作为", "总裁克里斯蒂安·贝克尔、"): only there can the
        end of a name be read from running text; a name among other words is left alone."""
        found = []
        for title in _TITLE.finditer(sentence):
            position = title.end()
            while (name := self._name_at(sentence, position)) is not None:
                found.append(name)
                position += len(name)
                # "市领导A、B、C出席": the title covers every bare name of its 、-list.
                if sentence[position : position + 1] != _LIST_BREAK:
                    break
                position += 1
                member = self._name_at(sentence, position)
                if (
                    member is None
                    or self.role_beside(sentence, position, position + len(member), []) is None
                ):
                    break
        return list(dict.fromkeys(found))

    def _name_at(self, sentence: str, position: int) -> str | None:
        """The name starting at ``position`` if a mark or a verb ends it right after."""
        rest = sentence[position:]
        named = _INTERPUNCT_NAME.match(rest)
        candidates = [named.group()] if named else [rest[:3], rest[:2]]
        if not named and rest[2:3] in _PREDICATE_OPENERS:
            candidates = [rest[:2], rest[:3]]  # "苗颖对…作了说明": 对 opens the predicate
        if not named and rest.startswith(_COMPOUND_SURNAMES):
            candidates.insert(0, rest[:4])  # "欧阳志远": a two-character family name
        for name in candidates:
            after = rest[len(name) :]
            ends = not after or _NAME_ENDS.match(after) or after[:1] in _PREDICATE_OPENERS
            if ends and self._is_name_in(sentence, name):
                return name
        return None

    def is_credit(self, before: str, sentence: str, start: int, end: int) -> bool:
        if _CREDITS.search(sentence[max(0, start - 8) : start]):
            return True
        return sentence[end : end + 3].strip().startswith("摄")

    def subject(self, sentence: str) -> tuple[str, bool] | None:
        return None

    def is_kind_only(self, subject: str) -> bool:
        return False  # the Chinese reader names no subject (see ``commitments``)

    def commitments(self, sentence: str) -> list[tuple[str, str]]:
        """("", what) for a sentence that commits or requires: 将, 要, 力争, 确保, 计划...

        Not a commitment: a mark after a wish (希望客商继续投资), 要 before a verb of seeing or
        knowing (要清醒看到: "we must recognise"), and 要 or 必须 with no subject and no date
        or target: an exhortation of principle (必须坚持…不动摇), not a commitment nor a call.
        """
        for mark in _COMMITMENT_MARK.finditer(sentence):
            before, after = sentence[: mark.start()], sentence[mark.end() :]
            if any(w in before for w in _WISHES):
                continue
            opener = _ADVERBS.sub("", after[:4])
            if mark.group() == "要" and opener.startswith(_COGNITION):
                continue
            if mark.group() in _DUTIES and not _subject(before) and not _ZH_WHEN.search(after):
                continue
            return [("", sentence[mark.start() : mark.start() + 60].rstrip("，。；、 "))]
        return []


def _subject(before: str) -> str:
    """The words between the last clause break (or speech verb) and a mark, less adverbs."""
    found = [m.end() for m in _SUBJECT_START.finditer(before)]
    return _ADVERBS.sub("", before[max(found, default=0) :]).strip()
