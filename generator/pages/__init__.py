"""Reading published port pages (Markdown: Microsoft Docs style or plain GFM).

`parse` reads a page into located sections, tables and prose; `mentions` finds the ports,
programs and rule names they state; `compare` sets them against a dataset (`check
--against`); `draft` turns the page's tables into draft flows (`import`); `terminal`
keeps page text inert when it is printed.
"""
