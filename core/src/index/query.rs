//! Typed words into tantivy queries that stay fast on a million manifests.
//!
//! A word matches, per field, its exact term (scored with BM25), terms within a few edits of it
//! that start with the same letter on title and artist (a typo), and, when it is the unfinished last word, terms that start with
//! it. Typo and prefix matches are worth a constant, as they always were. For issue 21 they are
//! found by [`Expansion`]s, which read posting lists lazily, and typo matching runs in a second
//! pass only: the first pass fuzzes just the words that match no term at all (an obvious typo)
//! and is the answer when it fills the page. Otherwise the query runs again with every word
//! fuzzed, which is what every query did before.

use std::sync::Arc;

use tantivy::query::{
    BooleanQuery, BoostQuery, DfaWrapper, FuzzyTermQuery, Occur, Query, TermQuery,
};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{Searcher, Term};

use super::Fields;
use super::alternatives::AnyOf;
use super::expansion::{Expansion, Found, Matcher, prefix_end};
use crate::error::Result;

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
    /// Accepts the terms within [`distance`] edits; built once, for title and artist.
    near: Option<Arc<DfaWrapper>>,
    /// The word's first letter: typo matches start with it.
    lead: String,
    /// The terms its typo and prefix expansions found, for every pass of the search.
    near_found: Arc<Found>,
    prefix_found: Arc<Found>,
}

/// The words of one query against one searcher.
pub(super) struct Plan {
    fields: Fields,
    words: Vec<Word>,
}

impl Plan {
    /// Looks the words up. `open_ended`: the last word may be unfinished.
    pub(super) fn new(
        searcher: &Searcher,
        fields: Fields,
        words: Vec<String>,
        open_ended: bool,
    ) -> Result<Self> {
        let n = words.len();
        let mut plan = Self {
            fields,
            words: Vec::with_capacity(n),
        };
        for (i, text) in words.into_iter().enumerate() {
            let prefix = open_ended && i + 1 == n;
            let mut known = false;
            for (field, _) in fields.weighted() {
                if known {
                    break;
                }
                known = has_term(searcher, field, &text, prefix)?;
            }
            // A three-letter word that matches nothing is a typo too (a letter dropped from a
            // four-letter word); without one edit it would fail the whole query.
            let distance = match distance(&text) {
                0 if !known && text.chars().count() == 3 => 1,
                d => d,
            };
            let near = match distance {
                0 => None,
                d => {
                    let term = Term::from_field_text(fields.title, &text);
                    Some(Arc::new(FuzzyTermQuery::new(term, d, true).automaton()?))
                }
            };
            let lead = text.chars().take(1).collect();
            plan.words.push(Word {
                text,
                prefix,
                known,
                near,
                lead,
                near_found: Arc::default(),
                prefix_found: Arc::default(),
            });
        }
        Ok(plan)
    }

    /// Whether a typo pass (every word fuzzed) would differ from [`Plan::query`] with
    /// `fuzz_all` false.
    pub(super) fn has_known_fuzzable_word(&self) -> bool {
        self.words.iter().any(|w| w.known && w.near.is_some())
    }

    /// How many words the query has.
    pub(super) fn len(&self) -> usize {
        self.words.len()
    }

    /// The query: every word must match (`occur` Must) or any may (Should). Words that match
    /// no term are always fuzzed; the others only with `fuzz_all`.
    pub(super) fn query(&self, occur: Occur, fuzz_all: bool) -> Box<dyn Query> {
        let clauses = self
            .words
            .iter()
            .map(|word| (occur, self.word_query(word, fuzz_all || !word.known)))
            .collect();
        Box::new(BooleanQuery::new(clauses))
    }

    fn word_query(&self, word: &Word, fuzz: bool) -> Box<dyn Query> {
        let mut alternatives: Vec<Box<dyn Query>> = Vec::new();
        let mut push = |query: Box<dyn Query>, boost: f32| {
            alternatives.push(Box::new(BoostQuery::new(query, boost)));
        };
        for (field, weight) in self.fields.weighted() {
            let term = Term::from_field_text(field, &word.text);
            push(
                Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs)),
                weight * 2.0,
            );
            // Typos are forgiven where people look first: title and artist. A word matched as
            // typed still earns the typo constant, so that both passes rank it alike.
            if weight >= 3.0
                && let Some(near) = &word.near
            {
                let (matcher, found) = if fuzz {
                    let automaton = near.clone();
                    let lead = word.lead.clone();
                    (Matcher::Near { automaton, lead }, word.near_found.clone())
                } else {
                    (Matcher::Exact(word.text.clone()), Arc::default())
                };
                push(
                    Box::new(Expansion {
                        field,
                        matcher,
                        found,
                    }),
                    weight,
                );
            }
            if word.prefix {
                let matcher = Matcher::Prefix(word.text.clone());
                let found = word.prefix_found.clone();
                push(
                    Box::new(Expansion {
                        field,
                        matcher,
                        found,
                    }),
                    weight * 1.5,
                );
            }
        }
        Box::new(AnyOf(alternatives))
    }
}

/// Whether some segment has `text` as a term of `field` (or, with `prefix`, a term starting
/// with it).
fn has_term(searcher: &Searcher, field: Field, text: &str, prefix: bool) -> Result<bool> {
    for segment in searcher.segment_readers() {
        let index = segment.inverted_index(field)?;
        let terms = index.terms();
        let found = if prefix {
            let mut range = terms.range().ge(text.as_bytes());
            if let Some(end) = prefix_end(text.as_bytes()) {
                range = range.lt(end);
            }
            range
                .without_keys()
                .into_stream()
                .map_err(tantivy::TantivyError::from)?
                .advance()
        } else {
            terms
                .get(text)
                .map_err(tantivy::TantivyError::from)?
                .is_some()
        };
        if found {
            return Ok(true);
        }
    }
    Ok(false)
}
