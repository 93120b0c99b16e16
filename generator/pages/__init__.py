"""Reading published port pages (Markdown: Microsoft Docs style or plain GFM; saved HTML).

`parse` (and `html` for HTML pages) reads a page into located sections, tables and prose;
`mentions` finds the ports, programs and rule names they state; `compare` sets them against
a dataset (`check --against`); `draft` turns the page's tables and port lists into draft
flows (`import`); `account` says what became of every number of the page and `findings`
what the page gets wrong in its own shape; `terminal` keeps page text inert when printed.
"""
