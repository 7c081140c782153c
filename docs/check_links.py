#!/usr/bin/env python3
"""Offline link check of the rendered manual (`make docs` runs it).

    python3 docs/check_links.py [BOOK_DIR [SUMMARY]]

BOOK_DIR defaults to docs/book, SUMMARY to docs/src/SUMMARY.md (both next
to this file). Every relative link (href and src) in every HTML file under
BOOK_DIR must name an existing file, and its #fragment an id (or <a name>)
in that file; a bare #fragment must be an id in the same page. External
http(s) links are checked for syntax only: no network. SUMMARY.md must
have no draft chapters (`[Title]()`, an empty link). Exits 1 listing every
broken link, 0 when there is none. Python 3.11 standard library only.
"""

from __future__ import annotations

import re
import sys
from html.parser import HTMLParser
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

HERE = Path(__file__).resolve().parent
LINK_ATTRIBUTES = {"href", "src"}
# Schemes that name no file and are fine as they are.
IGNORED_SCHEMES = {"mailto", "data", "javascript", "tel"}
# A draft chapter in SUMMARY.md: a list item or prefix chapter with an empty link.
DRAFT = re.compile(r"\[[^\]]*\]\(\s*\)")


class Page(HTMLParser):
    """The ids and links of one HTML file."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.links: list[tuple[int, str]] = []
        self.base: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value is None:
                continue
            if name == "id" or (tag == "a" and name == "name"):
                self.ids.add(value)
            elif tag == "base" and name == "href":
                self.base = value
            elif name in LINK_ATTRIBUTES and tag != "base":
                self.links.append((self.getpos()[0], value))

    handle_startendtag = handle_starttag


def parse(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8", errors="replace"))
    page.close()
    return page


def external_problem(url: str) -> str | None:
    """Why an http(s) URL is malformed, or None."""
    try:
        parts = urlsplit(url)
        parts.port  # raises ValueError on a bad port
    except ValueError as error:
        return f"malformed URL ({error})"
    if not parts.netloc or not parts.hostname:
        return "no host"
    if any(c.isspace() for c in url):
        return "whitespace in the URL"
    # urlsplit drops the brackets of an IPv6 literal.
    if not re.fullmatch(r"[A-Za-z0-9._-]+|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*", parts.hostname):
        return f"invalid host {parts.hostname!r}"
    return None


def check_book(book: Path) -> list[str]:
    """Every broken link under `book`, as `file:line: link: why`."""
    pages = {path: parse(path) for path in sorted(book.rglob("*.html"))}
    problems: list[str] = []
    for path, page in pages.items():
        where_from = path.parent
        if page.base is not None:
            # mdBook's 404 page resolves its links against <base href>,
            # the book's root (site-url) when it is an absolute path.
            if page.base.startswith("/"):
                where_from = book / page.base.lstrip("/")
            elif not urlsplit(page.base).scheme:
                where_from = (path.parent / page.base).resolve()
        for line, link in page.links:
            problem = check_link(book, path, where_from, link, pages)
            if problem:
                problems.append(f"{path.relative_to(book)}:{line}: {link}: {problem}")
    return problems


def check_link(book: Path, page_path: Path, where_from: Path, link: str, pages: dict[Path, Page]) -> str | None:
    link = link.strip()
    if not link:
        return "empty link"
    parts = urlsplit(link)
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        return external_problem(link)
    if scheme in IGNORED_SCHEMES:
        return None
    if scheme or link.startswith("//"):
        return f"unexpected scheme {scheme or '//'!r} (only http(s) links leave the book)"
    if parts.path:
        relative = unquote(parts.path)
        if relative.startswith("/"):
            target = book / relative.lstrip("/")
        else:
            target = where_from / PurePosixPath(relative)
        target = Path(target).resolve()
        try:
            target.relative_to(book)
        except ValueError:
            return "points outside the book"
        if target.is_dir():
            target = target / "index.html"
        if not target.is_file():
            return f"no such file {target.relative_to(book).as_posix()}"
    else:
        target = page_path
    fragment = unquote(parts.fragment)
    if fragment and target.suffix == ".html":
        ids = pages[target].ids if target in pages else parse(target).ids
        if fragment not in ids:
            return f"no id #{fragment} in {target.relative_to(book).as_posix()}"
    return None


def check_summary(summary: Path) -> list[str]:
    problems = []
    for number, line in enumerate(summary.read_text(encoding="utf-8").splitlines(), 1):
        if DRAFT.search(line):
            problems.append(f"{summary.name}:{number}: draft chapter (empty link): {line.strip()}")
    return problems


def main(argv: list[str]) -> int:
    if len(argv) > 3 or any(arg in ("-h", "--help") for arg in argv[1:]):
        print(__doc__.strip())
        return 2
    book = Path(argv[1] if len(argv) > 1 else HERE / "book").resolve()
    summary = Path(argv[2] if len(argv) > 2 else HERE / "src" / "SUMMARY.md")
    if not (book / "index.html").is_file():
        print(f"check_links: {book} holds no rendered book (run mdbook build first)", file=sys.stderr)
        return 1
    problems = check_summary(summary) + check_book(book)
    pages = sum(1 for _ in book.rglob("*.html"))
    if problems:
        for problem in problems:
            print(problem)
        print(f"check_links: {len(problems)} broken link(s) in {pages} pages")
        return 1
    print(f"check_links: {pages} pages, every link resolves")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
