#!/usr/bin/env bash
# Fails (exit 1) on a Markdown link in README.md or docs/**/*.md that points to a file or
# folder of the repository that does not exist, and lists every such link as
# `file:line: target`.
#
# Checked: inline links and images `[text](target)` and reference definitions
# `[label]: target`, outside fenced code blocks and inline code spans. A target is resolved
# against the linking file's folder (or the repository root when it starts with `/`); a
# `#anchor` or `?query` part is ignored, so `engine.md#state` passes when `engine.md`
# exists. Links with a scheme (`https:`, `mailto:`...) and bare `#anchor` links are skipped.
#
# Usage: scripts/check-links.sh [FILE.md...]   (default: README.md and docs/**/*.md)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

if [ "$#" -eq 0 ]; then
    set -- README.md
    while IFS= read -r f; do set -- "$@" "$f"; done < <(find docs -name '*.md' | sort)
fi

exec python3 - "$@" <<'PY'
import os
import re
import sys
from urllib.parse import unquote

INLINE = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*(<[^>]*>|[^)\s]+)(?:\s+[\"'(][^)]*)?\)")
REFDEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)")
CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1")
FENCE = re.compile(r"^\s{0,3}(```|~~~)")
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")

broken = []
checked = 0
for path in sys.argv[1:]:
    base = os.path.dirname(path)
    fence = None
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            m = FENCE.match(line)
            if m:
                if fence is None:
                    fence = m.group(1)
                elif m.group(1) == fence:
                    fence = None
                continue
            if fence is not None:
                continue
            text = CODE_SPAN.sub("", line)
            targets = [m.group(1) for m in INLINE.finditer(text)]
            m = REFDEF.match(text)
            if m:
                targets.append(m.group(1))
            for target in targets:
                target = target.strip("<>")
                if not target or target.startswith("#") or SCHEME.match(target):
                    continue
                file_part = unquote(re.split(r"[#?]", target, maxsplit=1)[0])
                if not file_part:
                    continue
                if file_part.startswith("/"):
                    resolved = file_part.lstrip("/")
                else:
                    resolved = os.path.normpath(os.path.join(base, file_part))
                checked += 1
                if resolved.startswith("..") or not os.path.exists(resolved):
                    broken.append(f"{path}:{n}: {target}")

if broken:
    print(f"{len(broken)} broken link(s) to missing repository files:")
    print("\n".join(broken))
    sys.exit(1)
print(f"links ok: {checked} repository links in {len(sys.argv) - 1} files")
PY
