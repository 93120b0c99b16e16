"""One corpus of hostile strings that every output must carry as inert text."""

HOSTILE_TEXT = [
    "=HYPERLINK(\"http://example.invalid/x\",\"click\")",
    "+1+1",
    "-2+3",
    "@SUM(A1:A2)",
    "\t=1+1",
    "\r=1+1",
    "=cmd|' /C calc'!A0",
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "javascript:alert(1)",
    "[link](javascript:alert(1))",
    ".. raw:: html\n\n   <b>raw</b>",
    ".. include:: /etc/passwd",
    "`code` *emph* **strong** |sub| _target_",
    "| pipe | in | cell |",
    "line one\nline two",
    "<!-- comment -->",
    "&lt;entity&gt; &amp;",
    "$(touch /tmp/portbook-pwned); `id`; rm -rf / #",
    "'; DROP TABLE flows; --",
    "\\u202e reversed \u202e text",
    "{{ template }} {% block %}",
    "%s %n %x",
]

# Values for id-like columns: must be rejected by the loader, never used as paths.
HOSTILE_IDS = [
    "../../x",
    "/etc/passwd",
    "..",
    "a/b",
    "x\\y",
    "<b>",
    "a b",
    "CON",
]
