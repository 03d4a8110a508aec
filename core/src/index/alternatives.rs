//! The alternatives of one word (its term in each field, its typo and prefix expansions), any
//! of which may match, their scores summed as a [`tantivy::query::BooleanQuery`] of should
//! clauses sums them.
//!
//! tantivy's union fills a window of 4,096 documents from every alternative on each seek beyond
//! the window it holds. A word of a query is mostly seeked, to the documents the query's rarest
//! word leaves, and a short prefix (`rock s`) has alternatives that cover half the catalog, so
//! those windows were most of the slowest searches at a million manifests (issue 21). [`AnyOf`]
//! seeks only the alternatives behind the target, which costs a few comparisons per document
//! when it leads and little when it follows.

use tantivy::query::{EmptyScorer, EnableScoring, Explanation, Query, QueryClone, Scorer, Weight};
use tantivy::{DocId, DocSet, Score, SegmentReader, TERMINATED, TantivyError, Term};

/// Matches what any of its queries matches; the score is the sum of the matching ones'.
#[derive(Debug)]
pub(super) struct AnyOf(pub(super) Vec<Box<dyn Query>>);

impl Clone for AnyOf {
    fn clone(&self) -> Self {
        Self(self.0.iter().map(|query| query.box_clone()).collect())
    }
}

impl Query for AnyOf {
    fn weight(&self, scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        let weights = self
            .0
            .iter()
            .map(|query| query.weight(scoring))
            .collect::<tantivy::Result<Vec<_>>>()?;
        Ok(Box::new(AnyOfWeight(weights)))
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a Term, bool)) {
        for query in &self.0 {
            query.query_terms(visitor);
        }
    }
}

struct AnyOfWeight(Vec<Box<dyn Weight>>);

impl Weight for AnyOfWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        let mut parts = Vec::with_capacity(self.0.len());
        for weight in &self.0 {
            let scorer = weight.scorer(reader, boost)?;
            if scorer.doc() != TERMINATED {
                parts.push(scorer);
            }
        }
        Ok(match parts.len() {
            0 => Box::new(EmptyScorer),
            1 => parts.swap_remove(0),
            _ => Box::new(Sum::new(parts)),
        })
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        let mut scorer = self.scorer(reader, 1.0)?;
        if scorer.seek(doc) != doc {
            return Err(TantivyError::InvalidArgument(format!(
                "document {doc} matches none of the alternatives"
            )));
        }
        Ok(Explanation::new("AnyOf", scorer.score()))
    }
}

/// The union of a few scorers, each positioned on its own next document.
struct Sum {
    parts: Vec<Box<dyn Scorer>>,
    doc: DocId,
}

impl Sum {
    fn new(parts: Vec<Box<dyn Scorer>>) -> Self {
        let mut sum = Self {
            parts,
            doc: TERMINATED,
        };
        sum.doc = sum.first();
        sum
    }

    fn first(&self) -> DocId {
        self.parts
            .iter()
            .map(|p| p.doc())
            .min()
            .unwrap_or(TERMINATED)
    }
}

impl DocSet for Sum {
    fn advance(&mut self) -> DocId {
        let doc = self.doc;
        if doc != TERMINATED {
            for part in &mut self.parts {
                if part.doc() == doc {
                    part.advance();
                }
            }
            self.doc = self.first();
        }
        self.doc
    }

    fn seek(&mut self, target: DocId) -> DocId {
        if self.doc < target {
            for part in &mut self.parts {
                if part.doc() < target {
                    part.seek(target);
                }
            }
            self.doc = self.first();
        }
        self.doc
    }

    fn doc(&self) -> DocId {
        self.doc
    }

    fn size_hint(&self) -> u32 {
        self.parts
            .iter()
            .fold(0u32, |n, p| n.saturating_add(p.size_hint()))
    }
}

impl Scorer for Sum {
    fn score(&mut self) -> Score {
        // In the alternatives' order, from zero, as tantivy's sum of should clauses adds them:
        // the same floating-point sum, so rankings do not move.
        let doc = self.doc;
        let mut score = 0.0;
        for part in &mut self.parts {
            if part.doc() == doc {
                score += part.score();
            }
        }
        score
    }
}

#[cfg(test)]
mod tests {
    use tantivy::collector::TopDocs;
    use tantivy::query::{BooleanQuery, BoostQuery, Occur, TermQuery};
    use tantivy::schema::{IndexRecordOption, Schema, TEXT};
    use tantivy::{Index, IndexWriter, doc};

    use super::*;

    /// Every way a word's alternatives are read (led, seeked by a rarer word, unioned with
    /// another word) gives the documents and scores a boolean query of should clauses gives.
    #[test]
    fn any_of_scores_as_should_clauses_do() {
        let mut schema = Schema::builder();
        let title = schema.add_text_field("title", TEXT);
        let album = schema.add_text_field("album", TEXT);
        let index = Index::create_in_ram(schema.build());
        let mut writer: IndexWriter = index.writer(15_000_000).unwrap();
        for i in 0..20_000u32 {
            let words = ["rock", "roll", "blue", "sky", "rare"];
            let pick = |k: u32| words[(i.wrapping_mul(k) % 7 % 5) as usize];
            let t = format!("{} {}", pick(3), if i % 97 == 0 { "rare" } else { pick(5) });
            writer
                .add_document(doc!(title => t, album => pick(11)))
                .unwrap();
        }
        writer.commit().unwrap();
        let searcher = index.reader().unwrap().searcher();
        let term = |field, text: &str| -> Box<dyn Query> {
            let term = Term::from_field_text(field, text);
            Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs))
        };
        let word = |text: &str| -> Vec<Box<dyn Query>> {
            vec![
                Box::new(BoostQuery::new(term(title, text), 6.0)),
                Box::new(BoostQuery::new(term(album, text), 2.0)),
            ]
        };
        let should = |text: &str| -> Box<dyn Query> {
            Box::new(BooleanQuery::new(
                word(text).into_iter().map(|q| (Occur::Should, q)).collect(),
            ))
        };
        let any = |text: &str| -> Box<dyn Query> { Box::new(AnyOf(word(text))) };
        let top = |query: &dyn Query| {
            searcher
                .search(query, &TopDocs::with_limit(50).order_by_score())
                .unwrap()
        };
        for (occur, words) in [
            (Occur::Must, vec!["rock"]),
            (Occur::Must, vec!["rare", "rock"]),
            (Occur::Must, vec!["blue", "sky", "rare"]),
            (Occur::Should, vec!["rare", "roll"]),
        ] {
            let of = |make: &dyn Fn(&str) -> Box<dyn Query>| {
                BooleanQuery::new(words.iter().map(|w| (occur, make(w))).collect())
            };
            let expected = top(&of(&should));
            assert!(!expected.is_empty(), "{words:?}");
            assert_eq!(top(&of(&any)), expected, "{words:?}");
        }
    }
}
