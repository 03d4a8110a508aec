//! One word's matches in one field, found through the term dictionary and read lazily.
//!
//! tantivy's own fuzzy and prefix queries read every posting of every matching term into a
//! bitset of the whole segment before the first document is scored, however few documents the
//! other words of the query leave. An [`Expansion`] instead keeps, per segment, the
//! [`MAX_EXPANSIONS`] most frequent matching terms and merges their posting lists on demand, so
//! that an intersection only touches the blocks it seeks to. Every match is worth the same
//! score, as with tantivy's queries.
//!
//! Walking a Levenshtein automaton over a term dictionary was most of a search's time at a
//! million manifests (perf, issue 21), once per segment, field and pass. So a typo match keeps
//! the word's first letter (as Elasticsearch's `prefix_length` 1 does: the walk stays in one
//! branch of the dictionary), and the terms an expansion found are [`Found`] for the rest of
//! the search, so that a second pass does not walk again.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex};

use tantivy::InvertedIndexReader;
use tantivy::index::SegmentId;
use tantivy::postings::{SegmentPostings, TermInfo};
use tantivy::query::{
    BitSetDocSet, ConstScorer, DfaWrapper, EmptyScorer, EnableScoring, Explanation, Query, Scorer,
    Weight,
};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{BitSet, DocId, DocSet, Score, SegmentReader, TERMINATED, TantivyError};

/// How many terms one word may expand to per field and segment. A one-letter prefix matches
/// thousands of terms on a large catalog; the most frequent are the likely completions.
pub(super) const MAX_EXPANSIONS: usize = 50;

/// An expansion's posting lists are merged until the merge has moved a list as many times as
/// 1/WHOLE_READ_SHARE of their postings; then, if they cover more than 1/DENSE of the segment,
/// they are read whole into a bitset.
const WHOLE_READ_SHARE: u64 = 4;
const DENSE: u64 = 16;

/// Which terms an [`Expansion`] matches.
#[derive(Clone)]
pub(super) enum Matcher {
    /// The term itself.
    Exact(String),
    /// Terms starting with this.
    Prefix(String),
    /// Terms the automaton accepts (those within a few edits of a word) that start with
    /// `lead` (the word's first letter).
    Near {
        automaton: Arc<DfaWrapper>,
        lead: String,
    },
}

/// What an expansion found in one segment: the matching terms, or, when they cover a good share
/// of it, their documents.
#[derive(Clone)]
enum Docs {
    Terms(Arc<[TermInfo]>),
    Dense(Arc<BitSet>),
}

/// What the expansions of one word found, per segment and field, kept for one search.
#[derive(Default)]
pub(super) struct Found(Mutex<HashMap<(SegmentId, Field), Docs>>);

impl Found {
    fn get_or_find(
        &self,
        key: (SegmentId, Field),
        find: impl FnOnce() -> tantivy::Result<Docs>,
    ) -> tantivy::Result<Docs> {
        let cached = self.lock().get(&key).cloned();
        if let Some(docs) = cached {
            return Ok(docs);
        }
        let docs = find()?;
        self.lock().insert(key, docs.clone());
        Ok(docs)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(SegmentId, Field), Docs>> {
        // The map only ever holds complete entries: a panic elsewhere cannot leave one half-made.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A query for the terms of `field` that `matcher` accepts, each match scoring its boost.
#[derive(Clone)]
pub(super) struct Expansion {
    pub(super) field: Field,
    pub(super) matcher: Matcher,
    /// Where this search keeps the terms found, shared by every pass.
    pub(super) found: Arc<Found>,
}

impl fmt::Debug for Expansion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let matcher = match &self.matcher {
            Matcher::Exact(t) => format!("exact {t:?}"),
            Matcher::Prefix(p) => format!("prefix {p:?}"),
            Matcher::Near { lead, .. } => format!("near, from {lead:?}"),
        };
        f.debug_struct("Expansion")
            .field("field", &self.field)
            .field("matcher", &matcher)
            .finish()
    }
}

impl Query for Expansion {
    fn weight(&self, _scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(self.clone()))
    }
}

impl Expansion {
    /// The (at most [`MAX_EXPANSIONS`]) terms of `terms` this expansion matches.
    fn terms(&self, terms: &tantivy::termdict::TermDictionary) -> tantivy::Result<Vec<TermInfo>> {
        let mut top = TopTerms::default();
        match &self.matcher {
            Matcher::Exact(term) => return Ok(terms.get(term)?.into_iter().collect()),
            Matcher::Prefix(prefix) => {
                let mut range = terms.range().ge(prefix.as_bytes());
                if let Some(end) = prefix_end(prefix.as_bytes()) {
                    range = range.lt(end);
                }
                let mut stream = range.without_keys().into_stream()?;
                while stream.advance() {
                    top.push(stream.value());
                }
            }
            Matcher::Near { automaton, lead } => {
                let mut range = terms.search(automaton.as_ref()).ge(lead.as_bytes());
                if let Some(end) = prefix_end(lead.as_bytes()) {
                    range = range.lt(end);
                }
                let mut stream = range.without_keys().into_stream()?;
                while stream.advance() {
                    top.push(stream.value());
                }
            }
        }
        Ok(top.into_vec())
    }
}

impl Weight for Expansion {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        let index = reader.inverted_index(self.field)?;
        let terms = index.terms();
        let find = || -> tantivy::Result<Docs> { Ok(Docs::Terms(self.terms(terms)?.into())) };
        let key = (reader.segment_id(), self.field);
        match self.found.get_or_find(key, find)? {
            Docs::Dense(docs) => {
                let docs = BitSetDocSet::from(BitSet::clone(&docs));
                Ok(Box::new(ConstScorer::new(docs, boost)))
            }
            Docs::Terms(infos) if infos.is_empty() => Ok(Box::new(EmptyScorer)),
            Docs::Terms(infos) => {
                let mut postings = Vec::with_capacity(infos.len());
                for info in infos.iter() {
                    postings
                        .push(index.read_postings_from_terminfo(info, IndexRecordOption::Basic)?);
                }
                let total: u64 = infos.iter().map(|t| u64::from(t.doc_freq)).sum();
                let budget = if total.saturating_mul(DENSE) > u64::from(reader.max_doc()) {
                    total / WHOLE_READ_SHARE
                } else {
                    u64::MAX
                };
                let source = Source {
                    index,
                    infos,
                    max_doc: reader.max_doc(),
                    found: self.found.clone(),
                    key,
                };
                let docs = Adaptive {
                    reading: Reading::Merging(Union::new(postings)),
                    budget,
                    source,
                };
                Ok(Box::new(ConstScorer::new(docs, boost)))
            }
        }
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        let mut scorer = self.scorer(reader, 1.0)?;
        if scorer.seek(doc) == doc {
            Ok(Explanation::new("Expansion", scorer.score()))
        } else {
            Err(TantivyError::InvalidArgument(format!(
                "document {doc} does not match {self:?}"
            )))
        }
    }
}

/// The smallest key greater than every key starting with `prefix`; none when there is no such
/// key (the prefix is all 0xFF bytes).
pub(super) fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// The [`MAX_EXPANSIONS`] most frequent terms seen.
#[derive(Default)]
struct TopTerms(Vec<TermInfo>);

impl TopTerms {
    fn push(&mut self, info: &TermInfo) {
        self.0.push(info.clone());
        if self.0.len() == 4 * MAX_EXPANSIONS {
            self.keep_top();
        }
    }

    fn keep_top(&mut self) {
        if self.0.len() > MAX_EXPANSIONS {
            self.0
                .select_nth_unstable_by_key(MAX_EXPANSIONS - 1, |t| Reverse(t.doc_freq));
            self.0.truncate(MAX_EXPANSIONS);
        }
    }

    fn into_vec(mut self) -> Vec<TermInfo> {
        self.keep_top();
        self.0
    }
}

/// Where an expansion's documents in one segment come from, to read them whole.
struct Source {
    index: Arc<InvertedIndexReader>,
    infos: Arc<[TermInfo]>,
    max_doc: DocId,
    found: Arc<Found>,
    key: (SegmentId, Field),
}

impl Source {
    /// Every document of the posting lists, kept in [`Found`] for the next pass.
    fn read_whole(&self) -> tantivy::Result<BitSet> {
        let mut docs = BitSet::with_max_value(self.max_doc);
        for info in self.infos.iter() {
            let mut block = self
                .index
                .read_block_postings_from_terminfo(info, IndexRecordOption::Basic)?;
            while !block.docs().is_empty() {
                for &doc in block.docs() {
                    docs.insert(doc);
                }
                block.advance();
            }
        }
        let kept = Docs::Dense(Arc::new(docs.clone()));
        self.found.lock().insert(self.key, kept);
        Ok(docs)
    }
}

enum Reading {
    Merging(Union),
    Whole(BitSetDocSet),
}

/// An expansion's documents in one segment. A word that a rarer word of the query leads is
/// only seeked to a few documents: merging its posting lists touches just those. A word that
/// leads, or is seeked often, reads its lists whole into a bitset (as tantivy does), once the
/// merge has cost a share of that read: a one-letter prefix covers half a segment.
struct Adaptive {
    reading: Reading,
    /// List moves left before the lists are read whole.
    budget: u64,
    source: Source,
}

impl Adaptive {
    /// Reads the lists whole when the merge has used its budget; `next` is the first document
    /// the caller still wants.
    fn settle(&mut self, next: DocId) {
        let Reading::Merging(union) = &self.reading else {
            return;
        };
        if union.moves <= self.budget || union.doc == TERMINATED {
            return;
        }
        match self.source.read_whole() {
            Ok(docs) => {
                let mut whole = BitSetDocSet::from(docs);
                whole.seek(next);
                self.reading = Reading::Whole(whole);
            }
            // The lists were readable a moment ago; should that change, merging goes on.
            Err(e) => {
                tracing::debug!(error = %e, "reading an expansion whole failed; merging on");
                self.budget = u64::MAX;
            }
        }
    }
}

impl DocSet for Adaptive {
    fn advance(&mut self) -> DocId {
        let doc = match &mut self.reading {
            Reading::Merging(union) => union.advance(),
            Reading::Whole(whole) => return whole.advance(),
        };
        self.settle(doc);
        self.doc()
    }

    fn seek(&mut self, target: DocId) -> DocId {
        let doc = match &mut self.reading {
            Reading::Merging(union) => union.seek(target),
            Reading::Whole(whole) => return whole.seek(target),
        };
        self.settle(doc);
        self.doc()
    }

    fn doc(&self) -> DocId {
        match &self.reading {
            Reading::Merging(union) => union.doc(),
            Reading::Whole(whole) => whole.doc(),
        }
    }

    fn size_hint(&self) -> u32 {
        match &self.reading {
            Reading::Merging(union) => union.size_hint(),
            Reading::Whole(whole) => whole.size_hint(),
        }
    }
}

/// The union of posting lists, merged with a heap as the caller advances or seeks.
struct Union {
    postings: Vec<SegmentPostings>,
    /// (doc, index into `postings`) for every list not yet exhausted.
    heap: BinaryHeap<Reverse<(DocId, usize)>>,
    doc: DocId,
    size_hint: u32,
    /// How many times a list was advanced or seeked.
    moves: u64,
}

impl Union {
    fn new(postings: Vec<SegmentPostings>) -> Self {
        let size_hint = postings
            .iter()
            .fold(0u32, |sum, p| sum.saturating_add(p.size_hint()));
        let heap = postings
            .iter()
            .enumerate()
            .filter(|(_, p)| p.doc() != TERMINATED)
            .map(|(i, p)| Reverse((p.doc(), i)))
            .collect();
        let mut union = Self {
            postings,
            heap,
            doc: TERMINATED,
            size_hint,
            moves: 0,
        };
        union.doc = union.head();
        union
    }

    fn head(&self) -> DocId {
        self.heap
            .peek()
            .map_or(TERMINATED, |Reverse((doc, _))| *doc)
    }

    /// Moves every list whose head is below `target` to `target` or beyond.
    fn move_below(&mut self, target: DocId, seek: bool) {
        while let Some(&Reverse((doc, i))) = self.heap.peek() {
            if doc >= target {
                break;
            }
            self.heap.pop();
            self.moves += 1;
            if let Some(postings) = self.postings.get_mut(i) {
                let next = if seek {
                    postings.seek(target)
                } else {
                    postings.advance()
                };
                if next != TERMINATED {
                    self.heap.push(Reverse((next, i)));
                }
            }
        }
        self.doc = self.head();
    }
}

impl DocSet for Union {
    fn advance(&mut self) -> DocId {
        if self.doc != TERMINATED {
            self.move_below(self.doc + 1, false);
        }
        self.doc
    }

    fn seek(&mut self, target: DocId) -> DocId {
        if self.doc < target {
            self.move_below(target, true);
        }
        self.doc
    }

    fn doc(&self) -> DocId {
        self.doc
    }

    fn size_hint(&self) -> u32 {
        self.size_hint
    }
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

    /// A prefix that covers the whole segment is read whole part way through, whether it leads
    /// or a rarer term seeks it, and matches the same documents as merging would.
    #[test]
    fn an_expansion_read_whole_part_way_matches_the_same_documents() {
        use std::collections::HashSet;

        use tantivy::collector::DocSetCollector;
        use tantivy::query::{BooleanQuery, Occur, Query, TermQuery};
        use tantivy::schema::{Schema, TEXT};
        use tantivy::{Index, IndexWriter, Term, doc};

        let mut schema = Schema::builder();
        let title = schema.add_text_field("title", TEXT);
        let index = Index::create_in_ram(schema.build());
        let mut writer: IndexWriter = index.writer_with_num_threads(1, 15_000_000).unwrap();
        let n = 20_000u32;
        for i in 0..n {
            writer
                .add_document(doc!(title => format!("a{} b{}", i % 40, i % 7)))
                .unwrap();
        }
        writer.commit().unwrap();
        let searcher = index.reader().unwrap().searcher();
        let prefix = |p: &str| -> Box<dyn Query> {
            Box::new(Expansion {
                field: title,
                matcher: Matcher::Prefix(p.to_owned()),
                found: Arc::default(),
            })
        };
        let docs = |query: &dyn Query| -> HashSet<u32> {
            let found = searcher.search(query, &DocSetCollector).unwrap();
            found.into_iter().map(|a| a.doc_id).collect()
        };
        assert_eq!(docs(prefix("a").as_ref()).len(), n as usize);
        let b3 = Term::from_field_text(title, "b3");
        let both = BooleanQuery::new(vec![
            (
                Occur::Must,
                Box::new(TermQuery::new(b3, IndexRecordOption::Basic)) as Box<dyn Query>,
            ),
            (Occur::Must, prefix("a1")),
        ]);
        let expected: HashSet<u32> = (0..n)
            .filter(|i| i % 7 == 3 && (i % 40 == 1 || (10..20).contains(&(i % 40))))
            .collect();
        assert_eq!(docs(&both), expected);
    }

    #[test]
    fn top_terms_keeps_the_most_frequent() {
        let mut top = TopTerms::default();
        for doc_freq in 0..1000 {
            top.push(&TermInfo {
                doc_freq,
                postings_range: 0..0,
                positions_range: 0..0,
            });
        }
        let kept = top.into_vec();
        assert_eq!(kept.len(), MAX_EXPANSIONS);
        assert!(
            kept.iter()
                .all(|t| t.doc_freq >= 1000 - MAX_EXPANSIONS as u32)
        );
    }
}
