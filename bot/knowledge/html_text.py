"""Rich-text CRM bodies (HubSpot notes, Salesforce enhanced notes, HTML in CSV exports) as plain text."""

from __future__ import annotations

from bs4 import BeautifulSoup, Comment

BLOCKS = ["p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre"]
UNSEEN = ["script", "style", "template", "noscript", "head", "object", "iframe"]  # never shown as text


def html_to_text(value: str) -> str:
    """One line per block, spaces squeezed, tags and entities resolved; what a browser would not show
    as text (scripts, styles, comments) is dropped. Text without markup is only trimmed."""
    if "<" not in value and "&" not in value:
        return value.strip()
    soup = BeautifulSoup(value, "html.parser")
    for hidden in soup.find_all(UNSEEN):
        hidden.decompose()
    for comment in soup.find_all(string=lambda s: isinstance(s, Comment)):
        comment.extract()
    for br in soup.find_all("br"):
        br.replace_with("\n")
    for block in soup.find_all(BLOCKS):
        block.insert_after("\n")
    lines = (" ".join(line.split()) for line in soup.get_text().splitlines())
    return "\n".join(line for line in lines if line)
