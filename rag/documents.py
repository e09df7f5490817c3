"""Reading articles from the corpus folder and cleaning them.

Cleaning removes news-site chrome by general rules (labels such as
"اقرأ أيضاً:", reading-time lines, lines repeated from above, photo credits and
captions, tag lists, stray one-word lines) and keeps the article text as it
is. It does not translate, normalize or reorder anything.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from .errors import CorpusError
from .text import month_names, normalize

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Document:
    """A cleaned article."""

    doc_id: str
    title: str
    date: str | None  # ISO date the article states, if any
    text: str  # cleaned text; chunk offsets point into this
    path: str


@dataclass(frozen=True)
class Skipped:
    """A corpus file that was not indexed, and why."""

    path: str
    reason: str


# Labels that news sites put around articles, compared after normalization.
_CHROME_LABELS = {
    normalize(s)
    for s in (
        "اقرأ أيضاً", "اقرأ أيضا", "إقرأ أيضاً", "اقرأ المزيد", "تصنيفات", "التصنيفات", "فيديو", "فيديوهات", "اختيارات المحرر",
        "مواضيع ذات صلة", "أخبار ذات صلة", "ذات صلة", "شارك", "شارك المقال", "شارك الخبر", "المزيد", "الأكثر قراءة", "الأكثر مشاهدة",
        "كلمات مفتاحية", "الكلمات المفتاحية", "وسوم", "الوسوم", "تابعونا", "إعلان", "صور", "صورة", "gettyimages", "getty images",
        "read more", "related", "tags", "advertisement", "share",
    )
}
_READING_TIME = re.compile(r"^(time reading icon|reading time|دقائق القراءة|مدة القراءة|وقت القراءة)", re.IGNORECASE)
# A caption ends with a photo credit: "(Getty)", "(إ.ب.أ)", "- Bloomberg", "(رويترز)".
_CREDIT = re.compile(
    r"(\((?:getty|afp|ap|reuters|epa|إ\.ب\.أ|أ\.ف\.ب|أ\.ب|رويترز|غيتي|أرشيفية|الأناضول)[^)]{0,20}\)"
    r"|\s[-–]\s*(?:Bloomberg|Getty(?: Images)?|Reuters|AFP|AP|EPA|رويترز|أ\.ف\.ب)\s*)\s*$",
    re.IGNORECASE,
)
_LEADING_HASHTAGS = re.compile(r"^(?:#\S+?_)+")
_SENTENCE_PUNCT = re.compile(r"[.!?؟؛:،,«»\"“”]")

# Month names (rag.text.month_names), normalized: their numbers.
MONTHS = {normalize(name): number for name, number in month_names().items()}
_MONTH_ALT = "|".join(sorted((re.escape(m) for m in MONTHS), key=len, reverse=True))
_DATE = re.compile(rf"(?<!\d)(\d{{1,2}})[\s\-/]+(?:من\s+)?({_MONTH_ALT})[\s\-/,]+(\d{{4}})(?!\d)")
_DATE_EN = re.compile(rf"\b({_MONTH_ALT})\.?\s+(\d{{1,2}}),?\s+(\d{{4}})\b")
_HEADER_LINES = 6  # a publication date is stated near the top


def find_date(text: str) -> str | None:
    """The first full date (day, month name, year) in text, as ISO, or None."""
    norm = normalize(text)
    for match in _DATE.finditer(norm):
        if iso := _iso(int(match.group(3)), MONTHS[match.group(2)], int(match.group(1))):
            return iso
    for match in _DATE_EN.finditer(norm):
        if iso := _iso(int(match.group(3)), MONTHS[match.group(1)], int(match.group(2))):
            return iso
    return None


def _iso(year: int, month: int, day: int) -> str | None:
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        return None


def decode(raw: bytes) -> str:
    """Strict UTF-8 (a BOM is allowed); raises UnicodeDecodeError otherwise."""
    if b"\x00" in raw:
        raise UnicodeDecodeError("utf-8", raw, raw.index(b"\x00"), raw.index(b"\x00") + 1, "NUL byte: binary file")
    return raw.decode("utf-8-sig")


def clean(raw_text: str) -> tuple[str, str, str | None]:
    """Cleaned text, title and ISO date of an article's raw text."""
    lines = [line.strip() for line in raw_text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    header = [line for line in lines if line][:_HEADER_LINES]
    # the publication date is a date line near the top, not a date inside a sentence there (a birth date opening a biography)
    published = next((d for d in (find_date(line) for line in header if _date_line(line)) if d), None)
    kept: list[str] = []
    seen: set[str] = set()
    title = ""
    for index, line in enumerate(lines):
        if not line:
            continue
        if not title:
            line = _LEADING_HASHTAGS.sub("", line).strip()
        key = normalize(line)
        if _is_chrome(line, key, index, header, first=not title) or key in seen:
            continue
        seen.add(key)
        if not title:
            title = _shorten(line)
        kept.append(line)
    return "\n".join(kept), title, published


def _shorten(line: str, limit: int = 14) -> str:
    """A title from the first line: whole when short, else its first words."""
    tokens = line.split()
    return line if len(tokens) <= limit else " ".join(tokens[:limit]) + " …"


def _date_line(line: str) -> bool:
    """A line short enough, and without a sentence's punctuation, to be a dateline."""
    return len(line.split()) <= 12 and not re.search(r"[.!?؟،,]", line)


def _is_chrome(line: str, key: str, index: int, header: list[str], first: bool = False) -> bool:
    bare = key.rstrip(":：-– ").strip()
    if bare in _CHROME_LABELS or _READING_TIME.match(key):
        return True
    if line in header and find_date(line) and _date_line(line):
        return True  # a date line: kept as metadata, not text
    if len(line) < 160 and _CREDIT.search(line):
        return True  # a photo caption with its credit
    tokens = key.split()
    if len(tokens) <= 1 and not _SENTENCE_PUNCT.search(line) and not first:
        return True  # a stray word ("من", "gettyimages"); a one-word first line is a title (القمر, مكة)
    if len(tokens) >= 5 and not _SENTENCE_PUNCT.search(line) and len(set(tokens)) / len(tokens) < 0.75:
        return True  # a tag list: short words repeated, no punctuation
    return False


def load_corpus(folder: Path) -> tuple[list[Document], list[Skipped]]:
    """Every readable .txt article in folder, cleaned, and the files skipped with reasons."""
    if not folder.is_dir():
        raise CorpusError(f"Corpus folder {folder} does not exist")
    docs: list[Document] = []
    skipped: list[Skipped] = []
    for path in sorted(folder.glob("*.txt")):
        try:
            text = decode(path.read_bytes())
        except UnicodeDecodeError as exc:
            skipped.append(Skipped(str(path), f"not UTF-8 text ({exc.reason} at byte {exc.start})"))
            continue
        except OSError as exc:
            skipped.append(Skipped(str(path), f"unreadable ({exc.strerror})"))
            continue
        cleaned, title, published = clean(text)
        if not cleaned.strip():
            skipped.append(Skipped(str(path), "empty after cleaning"))
            continue
        docs.append(Document(path.stem, title, published, cleaned, str(path)))
    for s in skipped:
        log.warning("skipped %s: %s", s.path, s.reason)
    if not docs:
        detail = f" ({len(skipped)} file(s) skipped: " + "; ".join(f"{Path(s.path).name}: {s.reason}" for s in skipped) + ")" if skipped else ""
        raise CorpusError(f"No usable .txt article in {folder}{detail}")
    return docs, skipped
