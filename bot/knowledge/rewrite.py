"""Query rewriting by the LLM: a few paraphrases of the question in the CRM's words.

Only when an LLM is configured and ``SEARCH_QUERY_REWRITE`` is on; only through the request's own
client (a private request's rewrite goes to the private endpoint, never the standard one), with the
question masked exactly as the answer prompt is. The paraphrases are searched under the same access
mask as the question and added to its scores at a lower weight (``HybridSearcher.search``). Any
failure returns no paraphrases: the request still answers from plain retrieval. Nothing is stored.
"""

from __future__ import annotations

import logging
import re

from bot.errors import LLMError
from bot.llm.client import LLMClient, Usage
from bot.privacy.redact import Masker

log = logging.getLogger(__name__)

REWRITES = 3
MAX_CHARS = 200
SYSTEM = (
    "You turn a sales rep's question into search queries over a CRM (accounts, deals, contacts, "
    "meeting and call notes) and product docs. Write {n} different short queries, one per line, in the "
    "words a rep's note or a deal record would use: deal stage, pricing and discount terms, competitor, "
    "objection, approval, product and industry words. Keep every name and code from the question. "
    "No numbering, no quotes, no explanations."
)
_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)]|query\s*\d*:)\s*", re.IGNORECASE)


def rewrite_question(
    client: LLMClient, question: str, masker: Masker, *, n: int = REWRITES
) -> tuple[list[str], Usage]:
    """Up to ``n`` paraphrases of ``question`` and what the call cost; ``([], usage)`` on any failure."""
    messages = [
        {"role": "system", "content": SYSTEM.format(n=n)},
        {"role": "user", "content": masker.mask(question)},
    ]
    try:
        done = client.complete(messages, max_tokens=40 * n, temperature=0.0)
    except LLMError as exc:
        log.warning(
            "query rewrite failed; searching with the question alone", extra={"error": type(exc).__name__}
        )
        return [], Usage()
    seen = {question.strip().lower()}
    out: list[str] = []
    for line in done.text.splitlines():
        text = masker.unmask(_BULLET.sub("", line).strip().strip("\"'")).strip()[:MAX_CHARS]
        if text and text.lower() not in seen:
            seen.add(text.lower())
            out.append(text)
    return out[:n], done.usage
