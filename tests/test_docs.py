"""Every citation of a document lands on real text inside the repository (docs/README.md).

Checked over the repository's ``.py``, ``.toml`` and ``.md`` files (``git ls-files``, tracked and
untracked-but-not-ignored, so a new document counts before it is committed; a plain walk of the
tree, without ``.venv``, ``build`` and other generated folders, outside a git checkout):

* every ``*.md`` file a file names exists, relative to the repository root or to the naming
  file's folder; the only exceptions are the names of reports the project itself writes under
  ``build/`` (:data:`GENERATED_MD`, each tied to the module that writes it);
* every ``docs/design.md §N`` (or ``§N.M``, ``§N-M``) names a numbered heading of docs/design.md;
* every ``docs/reference.md defect N`` names a defect heading of docs/reference.md, and every
  section named after ``docs/reference.md,`` is one of its ``##`` headings;
* the defects are numbered 1, 2, ... without a gap, and each one gives a ``file:line`` of the
  authors' simulator;
* no file refers to documents outside the repository (a sibling ``shared`` folder of inputs).

A failure lists every offending ``file:line`` with what it cites and what exists.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Suffixes of the files whose citations are checked.
SCANNED = (".py", ".toml", ".md")
#: Folders never scanned outside a git checkout (generated or third-party).
SKIPPED_DIRS = {
    ".git",
    ".venv",
    "build",
    "sim_build",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
}
#: ``.md`` names that are reports the project writes (not documents to find in the tree), each
#: with the module that writes it; the test checks that the module still does.
GENERATED_MD = {"summary.md": "tools/report_cmd.py"}

_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+")
_MD_NAME = re.compile(r"(?<![\w./-])([A-Za-z0-9_][A-Za-z0-9_./-]*\.md)\b")
_NUM = r"\d+(?:\.\d+)*"
_DESIGN_CITE = re.compile(
    rf"(?<![\w/])(?:docs/)?design\.md((?:[\s,#]*(?:and\s+)?§\s*{_NUM}(?:\s*[-–]\s*{_NUM})?)+)"
)
_DEFECT_CITE = re.compile(
    r"(?<![\w/])(?:docs/)?reference\.md,?\s+defects?\s+(\d+(?:\s*(?:,|and|-|–)\s*\d+)*)"
)
_REF_SECTION_CITE = re.compile(r"(?<![\w/])(?:docs/)?reference\.md,\s+([A-Z][^)\"`;:\n]*)")
# Written so that this file does not match itself.
_OUTSIDE = re.compile(r"(?:\.\./|/work/)shared\b|\bshared/(?:[A-Z]+\.md|hooks)\b")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*$", re.M)


def repo_files(root: Path) -> list[Path]:
    """The files of the repository at ``root`` whose suffix is in :data:`SCANNED`."""
    try:
        out = subprocess.run(
            [
                "git",
                "-C",
                str(root),
                "ls-files",
                "-z",
                "--cached",
                "--others",
                "--exclude-standard",
            ],
            capture_output=True,
            check=True,
        ).stdout.decode()
        names = [n for n in out.split("\0") if n]
    except (OSError, subprocess.CalledProcessError):
        names = []
    if not names:  # not a git checkout: walk the tree
        for folder, dirs, files in os.walk(root):
            dirs[:] = [d for d in dirs if d not in SKIPPED_DIRS and not d.endswith(".egg-info")]
            rel = Path(folder).relative_to(root)
            names += [str(rel / f) for f in files]
    paths = {root / n for n in names}
    return sorted(p for p in paths if p.suffix in SCANNED and p.is_file())


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _where(root: Path, path: Path, text: str, offset: int) -> str:
    return f"{path.relative_to(root)}:{_line(text, offset)}"


def design_sections(root: Path) -> set[str]:
    """Numbers of the numbered headings of docs/design.md (``"4"``, ``"4.2"``)."""
    path = root / "docs/design.md"
    if not path.is_file():
        return set()
    found = set()
    for m in _HEADING.finditer(path.read_text(encoding="utf-8")):
        num = re.match(r"(\d+(?:\.\d+)*)\.?(?:\s|$)", m.group(2))
        if num:
            found.add(num.group(1))
    return found


def reference_sections(root: Path) -> dict[str, str]:
    """Level-2 headings of docs/reference.md, and the text under each."""
    path = root / "docs/reference.md"
    if not path.is_file():
        return {}
    text = path.read_text(encoding="utf-8")
    heads = [m for m in _HEADING.finditer(text) if len(m.group(1)) == 2]
    return {
        m.group(2): text[m.end() : heads[i + 1].start() if i + 1 < len(heads) else len(text)]
        for i, m in enumerate(heads)
    }


def reference_defects(root: Path) -> dict[int, str]:
    """The defects of docs/reference.md (``### Defect N: ...`` under "Known defects ..."), with
    the text of each."""
    body = next(
        (t for h, t in reference_sections(root).items() if h.startswith("Known defects")), ""
    )
    heads = list(re.finditer(r"^###\s+Defect\s+(\d+)\b.*$", body, re.M))
    return {
        int(m.group(1)): body[m.end() : heads[i + 1].start() if i + 1 < len(heads) else len(body)]
        for i, m in enumerate(heads)
    }


def _numbers(group: str) -> list[str]:
    return [n.rstrip(".") for n in re.findall(_NUM, group)]


def citation_problems(root: Path) -> list[str]:
    """Every citation in the repository at ``root`` that does not land on real text."""
    files = repo_files(root)
    present = {p.relative_to(root).as_posix() for p in files}
    sections = design_sections(root)
    ref_heads = list(reference_sections(root))
    defects = reference_defects(root)
    problems = []
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        here = path.parent.relative_to(root)
        bare = _URL.sub(lambda m: " " * len(m.group()), text)
        for m in _MD_NAME.finditer(bare):
            name = m.group(1).rstrip("/")
            candidates = {Path(name).as_posix(), (here / name).as_posix()}
            if candidates & present or Path(name).name in GENERATED_MD:
                continue
            problems.append(f"{_where(root, path, text, m.start())}: cites {name}, not in the tree")
        for m in _DESIGN_CITE.finditer(text):
            for num in _numbers(m.group(1)):
                if num not in sections:
                    problems.append(
                        f"{_where(root, path, text, m.start())}: cites docs/design.md §{num}; "
                        f"sections are {sorted(sections, key=_sort_key)}"
                    )
        for m in _DEFECT_CITE.finditer(text):
            for num in _numbers(m.group(1)):
                if int(num) not in defects:
                    problems.append(
                        f"{_where(root, path, text, m.start())}: cites docs/reference.md defect "
                        f"{num}; defects are {sorted(defects)}"
                    )
        for m in _REF_SECTION_CITE.finditer(text):
            cited = m.group(1).strip()
            if not any(h.startswith(cited) or cited.startswith(h) for h in ref_heads):
                problems.append(
                    f"{_where(root, path, text, m.start())}: cites docs/reference.md, {cited!r}; "
                    f"sections are {ref_heads}"
                )
        for m in _OUTSIDE.finditer(text):
            problems.append(
                f"{_where(root, path, text, m.start())}: refers to {m.group()!r}, outside the "
                f"repository"
            )
    return problems


def _sort_key(num: str) -> tuple[int, ...]:
    return tuple(int(p) for p in num.split("."))


def test_every_citation_lands():
    problems = citation_problems(ROOT)
    assert not problems, f"{len(problems)} citations do not land:\n" + "\n".join(problems)


def test_docs_have_their_sections():
    assert {str(n) for n in range(1, 7)} <= design_sections(ROOT), "docs/design.md §1-§6"
    for head in (
        "The paper",
        "Configurations",
        "Device coefficients of the authors' simulator",
        "Known defects of the authors' simulator",
        "Literature",
    ):
        assert head in reference_sections(ROOT), f"docs/reference.md lacks '## {head}'"


def test_defects_are_numbered_and_located():
    defects = reference_defects(ROOT)
    assert defects, "docs/reference.md has no '### Defect N' headings"
    assert sorted(defects) == list(range(1, len(defects) + 1)), sorted(defects)
    for num, body in defects.items():
        assert re.search(r"\b[\w/]+\.(?:py|csv):\d+", body), f"defect {num} gives no file:line"


def test_generated_md_names_are_written():
    for name, writer in GENERATED_MD.items():
        assert f'"{name}"' in (ROOT / writer).read_text(encoding="utf-8"), (name, writer)


def test_checker_catches_planted_citations(tmp_path):
    """The checker on a small tree with one good and several bad citations (not the real tree)."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs/design.md").write_text("# d\n\n## 1. One\n\n### 1.2 Sub\n\n## 2. Two\n")
    (tmp_path / "docs/reference.md").write_text(
        "# r\n\n## The paper\n\n## Known defects of the authors' simulator\n\n"
        "### Defect 1: x\n\n`a.py:3`\n"
    )
    # Written with ".MD" so that the real-tree check does not read these lines as citations.
    planted = (
        "# docs/design.MD §1.2 and docs/reference.MD defect 1 (docs/reference.MD, The paper)\n"
        "# docs/design.MD §3\n"
        "# docs/design.MD §1.5\n"
        "# docs/reference.MD defects 1, 4\n"
        "# MISSING.MD\n"
        "# docs/reference.MD, Nowhere\n"
        "# ../" + "shared/notes\n"
        "# docs/design.MD\n# §9, wrapped in a comment\n"
    )
    missing = "MISSING.MD".replace(".MD", ".md")
    (tmp_path / "m.py").write_text(planted.replace(".MD", ".md"))
    got = citation_problems(tmp_path)
    flagged = sorted({p.split(": ")[0] for p in got})
    assert flagged == [f"m.py:{n}" for n in range(2, 9)], got
    assert all(any(f"§{n};" in p for p in got) for n in ("3", "1.5", "9")), got
    assert any("defect 4" in p for p in got) and not any("defect 1;" in p for p in got), got
    assert any(missing in p for p in got) and any("Nowhere" in p for p in got), got
    assert any("outside the repository" in p for p in got), got
