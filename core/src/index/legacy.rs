//! The query strategy before issue 21, kept callable (feature `test-utils`) so that the search
//! bench can time it beside the current one in the same run, on the same index.
//!
//! Every word became, per field, a term query, a [`FuzzyTermQuery`] on title and artist and, for
//! an unfinished last word, a prefix [`FuzzyTermQuery`] on every field. Each fuzzy or prefix
//! query reads every posting of every term it matches into a bitset, whatever the other words
//! select, which is what made it slow on a million manifests.

use tantivy::Term;
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, BoostQuery, FuzzyTermQuery, Occur, Query, TermQuery};
use tantivy::schema::IndexRecordOption;

use super::{SearchHit, SearchIndex};
use crate::error::Result;

impl SearchIndex {
    /// The best `limit` tracks for `text` as the search before issue 21 found them.
    pub fn search_legacy(&self, text: &str, limit: usize) -> Result<Vec<SearchHit>> {
        let words = self.words(text);
        if words.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let open_ended = !text.ends_with(char::is_whitespace);
        let searcher = self.reader.searcher();
        let collector = TopDocs::with_limit(limit).order_by_score();
        let mut top = searcher.search(
            &self.legacy_query(&words, open_ended, Occur::Must),
            &collector,
        )?;
        if top.is_empty() && words.len() > 1 {
            top = searcher.search(
                &self.legacy_query(&words, open_ended, Occur::Should),
                &collector,
            )?;
        }
        self.hits(&searcher, top)
    }

    fn legacy_query(&self, words: &[String], open_ended: bool, occur: Occur) -> Box<dyn Query> {
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::with_capacity(words.len());
        for (i, word) in words.iter().enumerate() {
            let is_last = i + 1 == words.len();
            let distance = super::query::distance(word);
            let mut alternatives: Vec<(Occur, Box<dyn Query>)> = Vec::new();
            for (field, weight) in self.fields.weighted() {
                let term = Term::from_field_text(field, word);
                let exact = TermQuery::new(term.clone(), IndexRecordOption::WithFreqs);
                alternatives.push((
                    Occur::Should,
                    Box::new(BoostQuery::new(Box::new(exact), weight * 2.0)),
                ));
                if distance > 0 && weight >= 3.0 {
                    let fuzzy = FuzzyTermQuery::new(term.clone(), distance, true);
                    alternatives.push((
                        Occur::Should,
                        Box::new(BoostQuery::new(Box::new(fuzzy), weight)),
                    ));
                }
                if is_last && open_ended {
                    let prefix = FuzzyTermQuery::new_prefix(term, 0, true);
                    alternatives.push((
                        Occur::Should,
                        Box::new(BoostQuery::new(Box::new(prefix), weight * 1.5)),
                    ));
                }
            }
            clauses.push((occur, Box::new(BooleanQuery::new(alternatives))));
        }
        Box::new(BooleanQuery::new(clauses))
    }
}
