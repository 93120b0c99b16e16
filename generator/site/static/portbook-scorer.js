/* Portbook's search scorer (html_search_scorer): Sphinx's default scores, and a role
 * page found through a port's index entry comes before the other pages showing the
 * port, as the role page is where a reader acts on it. */
var Scorer = {
  score: (result) => {
    const [docname, _title, _anchor, _descr, score, _filename, kind] = result;
    return kind === "index" && docname.startsWith("roles/") ? score + 30 : score;
  },
  objNameMatch: 11,
  objPartialMatch: 6,
  objPrio: { 0: 15, 1: 5, 2: -5 },
  objPrioDefault: 0,
  title: 15,
  partialTitle: 7,
  term: 5,
  partialTerm: 2,
};
