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

from bot.core.matching import CJK, normalize
from bot.core.readers import Role

# The common family names (single and compound); a CJK "name" starting otherwise is a body.
_SURNAMES = frozenset(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任"
    "沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴"
    "莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯"
    "纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉"
    "缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇"
    "桑郎甄丛仲虞敖巩明佘池查麻苑迟邝"
)
_COMPOUND_SURNAMES = tuple(
    "欧阳 司马 诸葛 上官 司徒 东方 皇甫 尉迟 公孙 慕容 "
    "长孙 宇文 夏侯 令狐 端木 独孤 南宫 西门".split()
)
_BODY_ENDINGS = (
    *tuple("市省县区府委局厅部门会院司团办所处社组队站校馆厂场园镇乡村州"),
    "中心",
    "公司",
    "集团",
    "政府",
    "部门",
    "委员会",
)
TITLE_WORDS = (
    "常务副市长", "副市长", "市长", "副省长", "省长", "副书记", "书记", "副主任", "主任", "副主席",
    "主席", "常委", "委员", "副部长", "部长", "副厅长", "厅长", "副局长", "局长", "处长", "县长",
    "区长", "镇长", "副总理", "总理", "总裁", "副总裁", "董事长", "总经理", "副总经理", "经理",
    "院士", "教授", "院长", "校长", "会长", "秘书长", "总工程师", "负责人", "代表", "主任委员",
    "首席执行官", "行长", "社长", "台长", "主编",
)  # fmt: skip
_TITLE = re.compile("|".join(sorted(TITLE_WORDS, key=len, reverse=True)))
# Pledges, plans and what is required of others: "will" (将), "must" (要, 必须), "strive to"
# (力争), "ensure" (确保), "plans to" (计划, 拟), "promise" (承诺).
_PLEDGE_MARK = re.compile(r"将(?!近|军)|要(?!求|点|素|闻)|必须|力争|确保|计划|拟|承诺|推动")
_CREDITS = re.compile(r"(?:记者|通讯员|摄影|编辑|责编|审核|校对|实习生|供稿|本报讯)[\s：:]*$")
_GROUP_BREAK = re.compile(r"[，,；;。：:（）()\s]")
_LIST_BREAK = "、"
# What may follow a name right after its title: a mark, or a verb that starts the predicate.
_NAME_ENDS = re.compile(
    r"[、，,。；;：:（(“\"]|表示|指出|强调|说|介绍|通报|主持|致辞|发言|讲话|作为|出席|宣布|要求|会见|"
    r"参加|调研|带队|一行|等"
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

    def short_forms(self, name: str) -> list[str]:
        return []

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
            and not self._names(items[index - 1], others)
        ):
            index -= 1
        if title:
            span_start = group_start + sum(len(i) + 1 for i in items[:index])
            return Role("、".join(items[index:]), "", (span_start, end))
        if not own and len(items) > 1:
            # "副市长李红梅、艾克拜尔·吐尔洪": one title before a 、-list covers every name in it.
            head = items[0]
            found = _TITLE.search(head)
            if found is not None and self._names(head[found.end() :], others):
                return Role(head[: found.end()], "", (group_start, end))
        return None

    @staticmethod
    def _names(text: str, others: list[str]) -> bool:
        plain = normalize(text)
        return any(o and o in plain for o in others)

    def listed_names(self, sentence: str) -> list[str]:
        """Names glued after a title and ended by a mark or a verb of speech or action
        ("主任黄国栋通报", "董事长宋嘉禾作为", "总裁克里斯蒂安·贝克尔、"): only there can the
        end of a name be read from running text; a name among other words is left alone."""
        found = []
        for title in _TITLE.finditer(sentence):
            rest = sentence[title.end() :]
            named = _INTERPUNCT_NAME.match(rest)
            candidates = [named.group()] if named else [rest[:3], rest[:2]]
            for name in candidates:
                after = rest[len(name) :]
                if self.is_person(name) and (not after or _NAME_ENDS.match(after)):
                    found.append(name)
                    break
        return list(dict.fromkeys(found))

    def is_credit(self, before: str, sentence: str, start: int, end: int) -> bool:
        if _CREDITS.search(sentence[max(0, start - 8) : start]):
            return True
        return sentence[end : end + 3].strip().startswith("摄")

    def subject(self, sentence: str) -> tuple[str, bool] | None:
        return None

    def pledges(self, sentence: str) -> list[tuple[str, str]]:
        """("", what) for a sentence that pledges or requires: 将, 要, 力争, 确保, 计划..."""
        mark = _PLEDGE_MARK.search(sentence)
        if mark is None:
            return []
        return [("", sentence[mark.start() : mark.start() + 60].rstrip("，。；、 "))]
