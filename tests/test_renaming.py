"""Renaming (metamorphic): a rule that holds only for the corpus's own names is a fit.

Every dev article is rewritten with its officials renamed consistently in the text and in
its gold (given names and surnames from Spanish, Arabic, Yoruba, Vietnamese, Polish, Tamil
and other Chinese pools; initials, particles and hyphens kept in shape), its towns and bodies
renamed with made-up words, and its simple lists of officials ("A, B and C", "A、B、C")
reordered. Through the gold-draft grounding test it must score exactly as the original.
Seeded, so a failure names the same renaming every run; no model, no network.
"""

from __future__ import annotations

import json
import random
import re
from typing import Any

import pytest

from bot.core.reading.chunking import CountTokens, NumberedArticle
from bot.core.reading.readers.english_names import PARTICLES, is_initial
from bot.core.reading.readers.words import word_list
from tests.fakes.gold_model import _CJK, CORPUS, DATA, Gold, commitment_drafts, official_drafts
from tests.test_corpus_grounding import Score, ground, score

GIVEN = (
    "Alejandro Lucía Ignacio Mercedes Yusuf Layla Tariq Samira Oluwaseun Adebayo Folake "
    "Chinonso Thanh Minh Huong Quang Łukasz Małgorzata Krzysztof Agnieszka Karthik "
    "Meenakshi Senthil Kavya Rodrigo Inés Hamza Nadia Babatunde Yetunde Hoang Tuyet "
    "Wojciech Zofia Arjun Lakshmi Guadalupe Esteban Rocío Joaquín Khadija Omar Rania Bilal "
    "Temitope Ngozi Ifeoluwa Kehinde Phuong Duc Linh Bartosz Jadwiga Mirosław Halina "
    "Murali Priyanka Selvi Arumugam Dolores Faisal Nkechi Trung Grzegorz Anbu"
).split()
SURNAMES = (
    "Ordóñez Villanueva Castillo Barrientos Haddad Al-Rashid Mansour Khalil Adeyemi Okonkwo "
    "Balogun Olatunji Nguyễn Trần Phạm Huỳnh Kowalczyk Wiśniewska Zieliński Wróbel "
    "Subramaniam Ramasamy Krishnan Pillai Quiroga Echeverría Saleh Bakr Adeleke Ogunleye "
    "Vũ Đặng Mazur Szymańska Chandrasekaran Murugan Fuentes Salazar Benítez Quintero "
    "Nasser Hamdan Azzam Obafemi Akintola Oyelaran Lê Bùi Dương Kaczmarek Lewandowska "
    "Jankowski Sundaram Venkatesan Natarajan Iglesias Zubair Eze Đoàn Pawlak Anand"
).split()
CN_SURNAMES = list("祁甘宓冼乐邰鄢滑逯薄阚晋訾满弓牧荀封桓庾宦隗")
CN_GIVEN = list("澜岳芷岚珩舟瑾璟翊昀晗沐钧岑砺骁桦芮湛弈琛霁珺濯骞蔚翎")
CN_PARTS = ["阿依古丽", "热合曼", "努尔兰", "沙吾提", "古丽娜", "买合木提"]
SYLLABLES = "vor kel tra mun sid bar quen lo rith ash dor vel nim gar tes ul bri hon".split()
CN_PLACE = list("岚溪崖榆桐砚泓岙")


def _made_up(rng: random.Random, taken: set[str]) -> str:
    while True:
        word = "".join(rng.sample(SYLLABLES, 2)).capitalize()
        if word not in taken:
            taken.add(word)
            return word


class Renamer:
    """One article's consistent renaming: people word by word, places and bodies whole."""

    def __init__(self, text: str, gold: Gold, seed: int) -> None:
        self.rng = random.Random(seed)
        self.text = text
        self.tokens: dict[str, str] = {}
        self.used: set[str] = set()
        self.pairs: dict[str, str] = {}
        for entry in gold["officials"]:
            self._person(entry)
        for word in self._places(gold):
            self.pairs[word] = self._place(word)

    # --- people -------------------------------------------------------------------------------

    def _person(self, entry: Gold) -> None:
        name = entry["name"]
        if _CJK.search(name):
            self.pairs[name] = self._chinese(name)
            for alias in entry.get("aliases", []):
                self.pairs[alias] = self._chinese(alias)
            return
        words = name.split()
        for index, word in enumerate(words):
            if word not in self.tokens:
                self.tokens[word] = self._word(word, last=index == len(words) - 1)
        own = {w: self.tokens[w] for w in words}
        for alias in entry.get("aliases", []):
            for word in alias.split():
                # "Liu Hao" for "Liu Haoyuan": a cut-short word stays the cut-short new one.
                cut = next((w for w in words if w != word and w.startswith(word)), None)
                if word not in own and cut is not None:
                    own[word] = own[cut][: len(word)]
        for form in [name, *entry.get("aliases", [])]:
            self.pairs[form] = " ".join(own.get(w, self.tokens.get(w, w)) for w in form.split())

    def _word(self, word: str, *, last: bool) -> str:
        if word.lower() in PARTICLES or (word.lower() == "ó"):
            return word
        if is_initial(word):
            return _initials_like(word, self.rng.choice("BDGHJKLMNPRSTVW"), self.rng)
        pool = SURNAMES if last else GIVEN
        if "-" in word and last:
            return f"{self._fresh(SURNAMES)}-{self._fresh(SURNAMES)}"
        return self._fresh(pool)

    def _fresh(self, pool: list[str]) -> str:
        choices = [p for p in pool if p not in self.used and p not in self.text]
        choice = self.rng.choice(choices)
        self.used.add(choice)
        return choice

    def _chinese(self, name: str) -> str:
        if "·" in name or "•" in name:
            parts = re.split("[·•]", name)
            mark = "·" if "·" in name else "•"
            return mark.join(self.tokens.setdefault(p, self._fresh(CN_PARTS)) for p in parts)
        if name in self.tokens:
            return self.tokens[name]
        longer = next((k for k in self.tokens if k.startswith(name) and k != name), None)
        if longer is not None:
            return self.tokens[longer][: len(name)]
        new = self._fresh(CN_SURNAMES) + "".join(self._fresh(CN_GIVEN) for _ in name[1:])
        self.tokens[name] = new
        return new

    # --- places and bodies ---------------------------------------------------------------------

    def _places(self, gold: Gold) -> list[str]:
        """Single words the gold uses for a town or a body's own name ("Fenghe", "澜江")."""
        people = {w for e in gold["officials"] for n in [e["name"], *e.get("aliases", [])]
                  for w in n.split()}  # fmt: skip
        found: list[str] = []
        strings = [c["actor"] for c in gold["commitments"]]
        strings += [k for e in gold["officials"] for k in e["organization_keywords"]]
        for value in strings:
            for word in re.findall(r"[A-Z][a-z]{3,}", value):
                if word not in people and _proper_only(word, self.text):
                    found.append(word)
            for run in re.findall(r"[\u4e00-\u9fff]{2}(?=市|县|区)", value):
                found.append(run)
        return list(dict.fromkeys(found))

    def _place(self, word: str) -> str:
        if _CJK.search(word):
            return "".join(self._fresh(CN_PLACE) for _ in word)
        return _made_up(self.rng, self.used)

    # --- applying it ---------------------------------------------------------------------------

    def apply(self, text: str) -> str:
        """Every old form to a placeholder first (longest first), then to its new form, so
        no part of a renamed name is renamed again."""
        olds = sorted(self.pairs, key=len, reverse=True)
        for index, old in enumerate(olds):
            mark = f"\x00{index}\x00"
            if _CJK.search(old):
                text = text.replace(old, mark)
            else:
                # Whole words; a possessive ("Germany's") is the same name.
                pattern = rf"(?<![\w'’.-]){re.escape(old)}(?![\w-])(?!['’](?!s\b))"
                text = re.sub(pattern, mark, text)
        for index, old in enumerate(olds):
            text = text.replace(f"\x00{index}\x00", self.pairs[old])
        return text

    def apply_gold(self, gold: Gold) -> Gold:
        def walk(value: Any) -> Any:
            if isinstance(value, str):
                return self.apply(value)
            if isinstance(value, list):
                return [walk(v) for v in value]
            if isinstance(value, dict):
                return {k: walk(v) for k, v in value.items()}
            return value

        renamed: Gold = walk(gold)
        return renamed


def _initials_like(word: str, first: str, rng: random.Random) -> str:
    """Other initials in the same shape: "M.K." -> "R.T.", "B" -> "T", "Ch." -> "Th."."""
    letters = "BDGHJKLMNPRSTVW"
    out = []
    for index, char in enumerate(word):
        if char.isupper():
            out.append(first if index == 0 else rng.choice(letters))
        else:
            out.append(char)
    return "".join(out)


_LANGUAGE = frozenset().union(
    *(word_list("english", n) for n in ("org_words", "titles", "modifiers", "function",
                                        "calendar", "numbers", "honorifics"))
)  # fmt: skip


def _proper_only(word: str, text: str) -> bool:
    """A word the article writes only capitalised (a name), never as an ordinary word, and
    no word of the language's own lists ("Branch", "Municipal" stay: renaming them would
    test made-up English, not other names)."""
    if word.lower() in _LANGUAGE or word.lower().rstrip("s") in _LANGUAGE:
        return False
    return re.search(rf"\b{word.lower()}\b", text) is None and word in text


def reorder_lists(text: str, names: list[str]) -> str:
    """Reverse simple lists of officials: "A, B and C" -> "C, B and A", "A、B、C" -> "C、B、A"."""
    latin = [re.escape(n) for n in sorted(names, key=len, reverse=True) if not _CJK.search(n)]
    if latin:
        one = "(?:" + "|".join(latin) + ")"
        pattern = re.compile(rf"(?<![\w'’.-])({one}(?:, {one})*,? and {one})(?![\w'’-])")

        def flip(match: re.Match[str]) -> str:
            members = re.split(r",? and |, ", match.group(1))
            if len(members) < 2:
                return match.group(0)
            members.reverse()
            serial = ", and " if ", and " in match.group(1) else " and "
            return ", ".join(members[:-1]) + serial + members[-1]

        text = pattern.sub(flip, text)
    cjk = [re.escape(n) for n in sorted(names, key=len, reverse=True) if _CJK.search(n)]
    if cjk:
        one = "(?:" + "|".join(cjk) + ")"
        text = re.sub(
            rf"{one}(?:、{one})+", lambda m: "、".join(reversed(m.group().split("、"))), text
        )
    return text


def rescore(text: str, gold: Gold, count_tokens: CountTokens) -> Score:
    article = NumberedArticle(text, count_tokens, 400)
    pledges = commitment_drafts(article, gold)
    officials, commitments = ground(article, official_drafts(article, gold), pledges)
    return score(article, gold, officials, commitments, pledges)


def _figures(found: Score) -> tuple[int, int, int, int, int, int, int]:
    return (
        found.kept,
        found.titles_right,
        found.commitments_right,
        len(found.invented),
        len(found.not_officials),
        len(found.non_persons),
        len(found.duplicates),
    )


def renamed(slug: str, seed: int) -> tuple[str, Gold, Renamer]:
    text = (DATA / f"{slug}.txt").read_text(encoding="utf-8")
    gold = json.loads((DATA / f"{slug}.gold.json").read_text(encoding="utf-8"))
    renamer = Renamer(text, gold, seed)
    new_text, new_gold = renamer.apply(text), renamer.apply_gold(gold)
    names = [e["name"] for e in new_gold["officials"]]
    return reorder_lists(new_text, names), new_gold, renamer


@pytest.mark.parametrize("slug", CORPUS)
@pytest.mark.parametrize("seed", [1, 2])
def test_renamed_articles_score_as_the_original(
    slug: str, seed: int, count_tokens: CountTokens
) -> None:
    original_text = (DATA / f"{slug}.txt").read_text(encoding="utf-8")
    original = json.loads((DATA / f"{slug}.gold.json").read_text(encoding="utf-8"))
    text, gold, renamer = renamed(slug, seed)
    assert text != original_text
    for entry in gold["officials"]:  # the renaming kept the gold true to the text
        assert entry["name"] in text, (entry["name"], renamer.pairs)
    before = rescore(original_text, original, count_tokens)
    after = rescore(text, gold, count_tokens)
    assert _figures(after) == _figures(before), (after.row(slug), after.missed,
                                                 after.wrong_titles, after.non_persons)  # fmt: skip


def test_lists_are_reordered_and_names_replaced() -> None:
    text = "Reps. Ana Ruiz, Bo Lind and Cy Moss met; 市领导王一、李二、赵三出席。"
    flipped = reorder_lists(text, ["Ana Ruiz", "Bo Lind", "Cy Moss", "王一", "李二", "赵三"])
    assert flipped == "Reps. Cy Moss, Bo Lind and Ana Ruiz met; 市领导赵三、李二、王一出席。"
