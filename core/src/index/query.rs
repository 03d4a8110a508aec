//! Typed words into tantivy queries that stay fast on a million manifests.
//!
//! A word matches, per field, its exact term (scored with BM25), terms within a few edits of it
//! on title and artist (a typo), and, when it is the unfinished last word, terms that start with
//! it. Fuzzy and prefix matches are worth a constant, as they always were; what changed for
//! issue 21 is how they are found:
//!
//! - Their terms are looked up in each segment's term dictionary once, while the query is built,
//!   and at most [`MAX_EXPANSIONS`] of them (the most frequent) are kept, so that a one-letter
//!   prefix cannot turn into thousands of posting lists.
//! - They become plain term queries in a lazy union, so that the intersection with the other
//!   words skips through their postings instead of reading every one into a bitset first.
//! - Typo matching runs in a second pass only. The first pass fuzzes just the words that match
//!   no term at all (an obvious typo); it is enough when it fills the page. Otherwise the query is
//!   run again with every word fuzzed, which is what every query did before.

use std::collections::HashMap;

use tantivy::query::{
    BooleanQuery, BoostQuery, ConstScoreQuery, FuzzyTermQuery, Occur, Query, TermQuery,
};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{Searcher, Term};

use super::Fields;
use crate::error::Result;

/// How many fuzzy or prefix terms one word may expand to per field.
pub(super) const MAX_EXPANSIONS: usize = 50;

/// How many edits a word may have: none up to 3 letters, one up to 7, two beyond. Levenshtein
/// automata and their matches grow fast with the distance, so it grows with the word.
pub(super) fn distance(word: &str) -> u8 {
    match word.chars().count() {
        0..=3 => 0,
        4..=7 => 1,
        _ => 2,
    }
}

/// One word of a query and what the term dictionaries know about it.
struct Word {
    text: String,
    /// Whether this is the last word and may be unfinished.
    prefix: bool,
    /// Whether some field has the word as a term, or (for an unfinished word) a term that
    /// starts with it.
    known: bool,
    /// Per weighted field: the terms starting with the word, if it may be unfinished.
    completions: Vec<Vec<String>>,
}

/// The words of one query against one searcher.
pub(super) struct Plan<'s> {
    searcher: &'s Searcher,
    fields: Fields,
    words: Vec<Word>,
}

impl<'s> Plan<'s> {
    /// Looks the words up. `open_ended`: the last word may be unfinished.
    pub(super) fn new(
        searcher: &'s Searcher,
        fields: Fields,
        words: Vec<String>,
        open_ended: bool,
    ) -> Result<Self> {
        let n = words.len();
        let mut plan = Self {
            searcher,
            fields,
            words: Vec::with_capacity(n),
        };
        for (i, text) in words.into_iter().enumerate() {
            let prefix = open_ended && i + 1 == n;
            let mut completions = Vec::new();
            let mut known = false;
            for (field, _) in fields.weighted() {
                known = known || plan.has_term(field, &text)?;
                if prefix {
                    let found = plan.prefixed(field, &text)?;
                    known = known || !found.is_empty();
                    completions.push(found);
                }
            }
            plan.words.push(Word {
                text,
                prefix,
                known,
                completions,
            });
        }
        Ok(plan)
    }

    /// Whether a typo pass (every word fuzzed) would differ from [`Plan::query`] with
    /// `fuzz_all` false.
    pub(super) fn has_known_fuzzable_word(&self) -> bool {
        self.words.iter().any(|w| w.known && distance(&w.text) > 0)
    }

    /// How many words the query has.
    pub(super) fn len(&self) -> usize {
        self.words.len()
    }

    /// The query: every word must match (`occur` Must) or any may (Should). Words that match
    /// no term are always fuzzed; the others only with `fuzz_all`.
    pub(super) fn query(&self, occur: Occur, fuzz_all: bool) -> Result<Box<dyn Query>> {
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::with_capacity(self.words.len());
        for word in &self.words {
            clauses.push((occur, self.word_query(word, fuzz_all || !word.known)?));
        }
        Ok(Box::new(BooleanQuery::new(clauses)))
    }

    fn word_query(&self, word: &Word, fuzz: bool) -> Result<Box<dyn Query>> {
        let distance = distance(&word.text);
        let mut alternatives: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for (i, (field, weight)) in self.fields.weighted().into_iter().enumerate() {
            let term = Term::from_field_text(field, &word.text);
            let exact = TermQuery::new(term.clone(), IndexRecordOption::WithFreqs);
            alternatives.push((
                Occur::Should,
                Box::new(BoostQuery::new(Box::new(exact), weight * 2.0)),
            ));
            // Typos are forgiven where people look first: title and artist. A word matched as
            // typed still earns the typo constant, so that both passes rank it alike.
            if distance > 0 && weight >= 3.0 {
                let near = if fuzz {
                    self.near(field, term, distance)?
                } else {
                    vec![word.text.clone()]
                };
                alternatives.extend(constant_union(field, &near, weight));
            }
            if word.prefix
                && let Some(completions) = word.completions.get(i)
            {
                alternatives.extend(constant_union(field, completions, weight * 1.5));
            }
        }
        Ok(Box::new(BooleanQuery::new(alternatives)))
    }

    fn has_term(&self, field: Field, text: &str) -> Result<bool> {
        for segment in self.searcher.segment_readers() {
            if segment
                .inverted_index(field)?
                .terms()
                .get(text)
                .map_err(dictionary)?
                .is_some()
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The most frequent terms of `field` that start with `prefix`.
    fn prefixed(&self, field: Field, prefix: &str) -> Result<Vec<String>> {
        let end = prefix_end(prefix.as_bytes());
        let mut found = HashMap::new();
        for segment in self.searcher.segment_readers() {
            let index = segment.inverted_index(field)?;
            let mut range = index.terms().range().ge(prefix.as_bytes());
            if let Some(end) = &end {
                range = range.lt(end);
            }
            let mut stream = range.into_stream().map_err(dictionary)?;
            while stream.advance() {
                count(&mut found, stream.key(), stream.value().doc_freq);
            }
        }
        Ok(most_frequent(found))
    }

    /// The most frequent terms of `field` within `distance` edits of `term` (itself included).
    fn near(&self, field: Field, term: Term, distance: u8) -> Result<Vec<String>> {
        let automaton = FuzzyTermQuery::new(term, distance, true).automaton()?;
        let mut found = HashMap::new();
        for segment in self.searcher.segment_readers() {
            let index = segment.inverted_index(field)?;
            let mut stream = index
                .terms()
                .search(&automaton)
                .into_stream()
                .map_err(dictionary)?;
            while stream.advance() {
                count(&mut found, stream.key(), stream.value().doc_freq);
            }
        }
        Ok(most_frequent(found))
    }
}

/// A term dictionary read failed (a damaged or vanished segment file).
fn dictionary(e: std::io::Error) -> tantivy::TantivyError {
    tantivy::TantivyError::from(e)
}

fn count(found: &mut HashMap<String, u64>, key: &[u8], doc_freq: u32) {
    if let Ok(text) = std::str::from_utf8(key) {
        *found.entry(text.to_owned()).or_default() += u64::from(doc_freq);
    }
}

fn most_frequent(found: HashMap<String, u64>) -> Vec<String> {
    let mut found: Vec<(String, u64)> = found.into_iter().collect();
    if found.len() > MAX_EXPANSIONS {
        found.select_nth_unstable_by(MAX_EXPANSIONS - 1, |a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        found.truncate(MAX_EXPANSIONS);
    }
    found.into_iter().map(|(t, _)| t).collect()
}

/// The smallest key greater than every key starting with `prefix`; none when there is no such
/// key (the prefix is all 0xFF bytes).
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// A query matching any of `terms` in `field`, worth `score` whichever matched.
fn constant_union(field: Field, terms: &[String], score: f32) -> Option<(Occur, Box<dyn Query>)> {
    if terms.is_empty() {
        return None;
    }
    let union: Vec<(Occur, Box<dyn Query>)> = terms
        .iter()
        .map(|t| {
            let q = TermQuery::new(Term::from_field_text(field, t), IndexRecordOption::Basic);
            (Occur::Should, Box::new(q) as Box<dyn Query>)
        })
        .collect();
    Some((
        Occur::Should,
        Box::new(ConstScoreQuery::new(
            Box::new(BooleanQuery::new(union)),
            score,
        )),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_is_the_next_key() {
        assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_end(&[b'a', 0xFF]), Some(b"b".to_vec()));
        assert_eq!(prefix_end(&[0xFF]), None);
    }

    #[test]
    fn expansions_keep_the_most_frequent() {
        let found: HashMap<String, u64> = (0..200).map(|i| (format!("t{i}"), i)).collect();
        let kept = most_frequent(found);
        assert_eq!(kept.len(), MAX_EXPANSIONS);
        assert!(kept.contains(&"t199".to_owned()));
        assert!(!kept.contains(&"t0".to_owned()));
    }
}
