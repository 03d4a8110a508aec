//! Local full-text search over manifests with tantivy.
//!
//! The index is a cache of the store: it can always be rebuilt from the manifests, and
//! [`crate::Library`] does so when the two disagree. The schema stays private; callers add
//! manifests and ask queries.
//!
//! Queries are made for typing: a word in a title or artist may be misspelt after its first letter
//! (one edit for words of 4-7 letters, and for a three-letter word that matches nothing, two for
//! longer ones, a swap of two letters counts as one), the last word may be unfinished (a prefix),
//! and title and artist matches weigh more than album and tags. Every word must match somewhere;
//! when that finds nothing, any word may match. `query` turns the words into tantivy queries in two
//! passes (as typed first, typos second), `expansion` finds typo and prefix matches cheaply and
//! `alternatives` sums a word's matches without tantivy's windowed union; they exist so that a
//! million manifests answer in milliseconds (issue 21). `judged` is the query set that keeps
//! relevance honest.

use std::path::Path;
use std::sync::Mutex;

use tantivy::collector::TopDocs;
use tantivy::directory::MmapDirectory;
use tantivy::query::Occur;
use tantivy::schema::{
    Field, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions, Value,
};
use tantivy::tokenizer::{
    AsciiFoldingFilter, LowerCaser, RemoveLongFilter, SimpleTokenizer, TextAnalyzer,
};
use tantivy::{
    DocAddress, Index, IndexReader, IndexWriter, ReloadPolicy, Searcher, TantivyDocument, Term, doc,
};

use crate::error::{Error, Result};
use crate::model::{Manifest, TrackId};

mod alternatives;
mod expansion;
#[cfg(any(test, feature = "test-utils"))]
pub mod judged;
#[cfg(any(test, feature = "test-utils"))]
mod legacy;
mod query;

use query::Plan;

const TOKENIZER: &str = "busker";
const WRITER_MEMORY: usize = 64 * 1024 * 1024;
/// tantivy's smallest writer arena.
const SCRATCH_MEMORY: usize = 15_000_000;
const MAX_QUERY_WORDS: usize = 8;

/// One search result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SearchHit {
    /// The track.
    pub id: TrackId,
    /// Relevance; higher is better. Only comparable within one query.
    pub score: f32,
}

#[derive(Clone, Copy)]
struct Fields {
    id: Field,
    title: Field,
    artist: Field,
    album: Field,
    tags: Field,
}

impl Fields {
    /// The searchable fields with their weights.
    fn weighted(&self) -> [(Field, f32); 4] {
        [
            (self.title, 3.0),
            (self.artist, 3.0),
            (self.album, 1.0),
            (self.tags, 0.7),
        ]
    }
}

/// The tantivy index of this peer's manifests.
pub struct SearchIndex {
    index: Index,
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    fields: Fields,
}

impl std::fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchIndex")
            .field("docs", &self.len())
            .finish()
    }
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(TOKENIZER)
            .set_index_option(IndexRecordOption::WithFreqs),
    );
    let fields = Fields {
        id: b.add_text_field("id", STRING | STORED),
        title: b.add_text_field("title", text.clone()),
        artist: b.add_text_field("artist", text.clone()),
        album: b.add_text_field("album", text.clone()),
        tags: b.add_text_field("tags", text),
    };
    (b.build(), fields)
}

fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build()
}

impl SearchIndex {
    /// Opens the index in `dir`, creating it as needed. The index is a cache of the store: one
    /// that cannot be opened (its schema is from another version, a segment file is damaged
    /// or missing) is recreated empty, with a warning, and the caller refills it from the store.
    pub fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let (schema, fields) = schema();
        let open = || -> Result<Self> {
            let directory = MmapDirectory::open(dir)
                .map_err(|e| Error::Index(tantivy::TantivyError::from(e)))?;
            let index = Index::open_or_create(directory, schema.clone())?;
            // Opening the reader opens every segment's files: damage shows here, not later.
            Self::from_index(index, fields)
        };
        match open() {
            Ok(index) => Ok(index),
            Err(e) => {
                tracing::warn!(
                    error = %e,
                    "the search index could not be opened: rebuilding it from the database"
                );
                std::fs::remove_dir_all(dir).map_err(|e| Error::io(dir, e))?;
                std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
                open()
            }
        }
    }

    /// An index in memory (tests and benches).
    pub fn in_memory() -> Result<Self> {
        let (schema, fields) = schema();
        Self::from_index(Index::create_in_ram(schema), fields)
    }

    /// A small throwaway index in memory (one indexing thread, tantivy's smallest arena): to
    /// run a query over a handful of manifests, such as peers' answers to a search.
    pub fn scratch() -> Result<Self> {
        let (schema, fields) = schema();
        let index = Index::create_in_ram(schema);
        index.tokenizers().register(TOKENIZER, analyzer());
        let writer = index.writer_with_num_threads(1, SCRATCH_MEMORY)?;
        Self::with_writer(index, writer, fields)
    }

    fn from_index(index: Index, fields: Fields) -> Result<Self> {
        index.tokenizers().register(TOKENIZER, analyzer());
        let writer = index.writer(WRITER_MEMORY)?;
        Self::with_writer(index, writer, fields)
    }

    fn with_writer(index: Index, writer: IndexWriter, fields: Fields) -> Result<Self> {
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(Self {
            index,
            reader,
            writer: Mutex::new(writer),
            fields,
        })
    }

    fn writer(&self) -> std::sync::MutexGuard<'_, IndexWriter> {
        // A panic while holding the lock cannot leave the writer half-updated in a way later
        // calls could see: uncommitted documents are simply discarded by the next rollback.
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds (or replaces) manifests and commits, so that the next search sees them.
    pub fn add(&self, manifests: &[Manifest]) -> Result<()> {
        self.add_uncommitted(manifests)?;
        self.commit()
    }

    /// Adds (or replaces) manifests without committing: searches see them after the next
    /// [`SearchIndex::commit`]. A commit costs milliseconds, so batch work commits once.
    pub fn add_uncommitted(&self, manifests: &[Manifest]) -> Result<()> {
        let writer = self.writer();
        for m in manifests {
            self.stage(&writer, m)?;
        }
        Ok(())
    }

    /// Makes every added manifest searchable.
    pub fn commit(&self) -> Result<()> {
        self.writer().commit()?;
        self.reader.reload()?;
        Ok(())
    }

    fn stage(&self, writer: &IndexWriter, m: &Manifest) -> Result<()> {
        let f = &self.fields;
        let id = m.id().to_hex();
        writer.delete_term(Term::from_field_text(f.id, &id));
        let info = m.info();
        writer.add_document(doc!(
            f.id => id,
            f.title => info.title.as_str(),
            f.artist => info.artist.as_str(),
            f.album => info.album.as_str(),
            f.tags => info.tags.join(" "),
        ))?;
        Ok(())
    }

    /// Removes tracks (evicted from the catalog) and commits.
    pub fn remove(&self, ids: &[TrackId]) -> Result<()> {
        let writer = self.writer();
        for id in ids {
            writer.delete_term(Term::from_field_text(self.fields.id, &id.to_hex()));
        }
        drop(writer);
        self.commit()
    }

    /// Replaces the whole index with `manifests`.
    pub fn rebuild(&self, manifests: impl Iterator<Item = Result<Manifest>>) -> Result<usize> {
        let mut writer = self.writer();
        writer.delete_all_documents()?;
        let mut n = 0;
        for m in manifests {
            self.stage(&writer, &m?)?;
            n += 1;
        }
        writer.commit()?;
        drop(writer);
        self.reader.reload()?;
        Ok(n)
    }

    /// Merges every segment into one and returns how many segments the searcher then reads
    /// (benches: what fewer segments would buy).
    #[cfg(any(test, feature = "test-utils"))]
    pub fn merge_segments(&self) -> Result<usize> {
        let ids = self.index.searchable_segment_ids()?;
        if ids.len() > 1 {
            self.writer().merge(&ids).wait()?;
        }
        self.reader.reload()?;
        Ok(self.reader.searcher().segment_readers().len())
    }

    /// How many tracks are indexed.
    pub fn len(&self) -> usize {
        self.reader.searcher().num_docs() as usize
    }

    /// Whether nothing is indexed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The best `limit` tracks for `text`, best first. An empty query finds nothing.
    pub fn search(&self, text: &str, limit: usize) -> Result<Vec<SearchHit>> {
        self.search_passes(text, limit, true)
    }

    /// [`SearchIndex::search`] in a single pass that fuzzes every word, as the search before
    /// issue 21 did but with lazy [`expansion::Expansion`]s: what the bench compares the
    /// two-pass search with.
    #[cfg(any(test, feature = "test-utils"))]
    pub fn search_one_pass(&self, text: &str, limit: usize) -> Result<Vec<SearchHit>> {
        self.search_passes(text, limit, false)
    }

    fn search_passes(
        &self,
        text: &str,
        limit: usize,
        as_typed_first: bool,
    ) -> Result<Vec<SearchHit>> {
        let words = self.words(text);
        if words.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let open_ended = !text.ends_with(char::is_whitespace);
        let searcher = self.reader.searcher();
        let collector = TopDocs::with_limit(limit).order_by_score();
        let plan = Plan::new(&searcher, self.fields, words, open_ended)?;
        // Words matched as typed (and obvious typos) first; a full page of those is the answer.
        let mut top = searcher.search(&plan.query(Occur::Must, !as_typed_first), &collector)?;
        if as_typed_first && top.len() < limit && plan.has_known_fuzzable_word() {
            top = searcher.search(&plan.query(Occur::Must, true), &collector)?;
        }
        if top.is_empty() && plan.len() > 1 {
            top = searcher.search(&plan.query(Occur::Should, true), &collector)?;
        }
        self.hits(&searcher, top)
    }

    fn hits(&self, searcher: &Searcher, top: Vec<(f32, DocAddress)>) -> Result<Vec<SearchHit>> {
        let mut hits = Vec::with_capacity(top.len());
        for (score, addr) in top {
            let doc: TantivyDocument = searcher.doc(addr)?;
            let id = doc
                .get_first(self.fields.id)
                .and_then(|v| v.as_str())
                .and_then(|s| s.parse::<TrackId>().ok());
            if let Some(id) = id {
                hits.push(SearchHit { id, score });
            }
        }
        Ok(hits)
    }

    fn words(&self, text: &str) -> Vec<String> {
        let mut analyzer = self
            .index
            .tokenizers()
            .get(TOKENIZER)
            .unwrap_or_else(analyzer);
        let mut stream = analyzer.token_stream(text);
        let mut words = Vec::new();
        while let Some(token) = stream.next() {
            if words.len() == MAX_QUERY_WORDS {
                break;
            }
            words.push(token.text.clone());
        }
        words
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ArtistKeypair, ManifestDraft, TrackInfo, split_chunks};

    fn manifest(seed: u8, title: &str, artist: &str, album: &str, tags: &[&str]) -> Manifest {
        let bytes = vec![seed; 1000];
        let (chunk_size, chunks) = split_chunks(&bytes).unwrap();
        ManifestDraft {
            info: TrackInfo {
                title: title.into(),
                artist: artist.into(),
                album: album.into(),
                tags: tags.iter().map(|t| t.to_string()).collect(),
                ..TrackInfo::default()
            },
            file_size: bytes.len() as u64,
            chunk_size,
            chunks,
            published_at: 0,
        }
        .sign(&ArtistKeypair::from_seed([seed; 32]))
    }

    fn library() -> (SearchIndex, Vec<Manifest>) {
        let index = SearchIndex::in_memory().unwrap();
        let ms = vec![
            manifest(
                1,
                "Spring of love",
                "Edison Concert Band",
                "Cylinder 8404",
                &[],
            ),
            manifest(2, "Morning Coffee", "Manolo Camp", "Opsound", &["jazz"]),
            manifest(3, "Lovesick", "Springfield Trio", "Spring Sessions", &[]),
            manifest(4, "Autumn", "Nobody", "Love songs", &["spring"]),
        ];
        index.add(&ms).unwrap();
        (index, ms)
    }

    fn first(index: &SearchIndex, q: &str) -> Option<TrackId> {
        index.search(q, 10).unwrap().first().map(|h| h.id)
    }

    #[test]
    fn finds_prefixes_and_typos() {
        let (index, ms) = library();
        assert_eq!(first(&index, "spring lov"), Some(ms[0].id()));
        assert_eq!(first(&index, "sprng of love"), Some(ms[0].id()));
        assert_eq!(first(&index, "Spring of love"), Some(ms[0].id()));
        assert_eq!(first(&index, "mornign cofee"), Some(ms[1].id()));
        assert_eq!(first(&index, "manolo"), Some(ms[1].id()));
        assert_eq!(first(&index, "MANOLÖ"), Some(ms[1].id()));
        assert_eq!(first(&index, "mnaolo "), Some(ms[1].id()));
        assert!(
            index.search("nanolo ", 10).unwrap().is_empty(),
            "a typo in the first letter is not forgiven"
        );
        assert!(index.search("zzzzqqq", 10).unwrap().is_empty());
        assert!(index.search("   ", 10).unwrap().is_empty());
    }

    #[test]
    fn title_and_artist_outrank_album_and_tags() {
        let (index, ms) = library();
        let hits: Vec<TrackId> = index
            .search("spring ", 10)
            .unwrap()
            .iter()
            .map(|h| h.id)
            .collect();
        // Title "Spring of love" and artist "Springfield" (prefix) come before album/tag matches.
        let pos = |id: TrackId| hits.iter().position(|h| *h == id).unwrap();
        assert!(pos(ms[0].id()) < pos(ms[3].id()));
        let hits: Vec<TrackId> = index
            .search("love", 10)
            .unwrap()
            .iter()
            .map(|h| h.id)
            .collect();
        assert_eq!(hits[0], ms[0].id());
        assert!(hits.contains(&ms[3].id()));
    }

    #[test]
    fn an_index_of_another_schema_is_recreated_empty() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("index");
        {
            // An index as another version might have left it: other fields, one document.
            std::fs::create_dir_all(&dir).unwrap();
            let mut b = Schema::builder();
            let name = b.add_text_field("name", STRING | STORED);
            let index = Index::create_in_dir(&dir, b.build()).unwrap();
            let mut writer: IndexWriter = index.writer(WRITER_MEMORY).unwrap();
            writer.add_document(doc!(name => "old")).unwrap();
            writer.commit().unwrap();
        }
        let index = SearchIndex::open(&dir).unwrap();
        assert!(
            index.is_empty(),
            "the caller sees it differs from the store and refills it"
        );
        let (_, ms) = library();
        assert_eq!(index.rebuild(ms.iter().cloned().map(Ok)).unwrap(), 4);
        assert_eq!(first(&index, "manolo"), Some(ms[1].id()));
        drop(index);
        assert_eq!(
            SearchIndex::open(&dir).unwrap().len(),
            4,
            "the rebuilt index is kept"
        );
    }

    #[test]
    fn re_adding_replaces_and_rebuild_matches_the_input() {
        let (index, ms) = library();
        index.add(&ms[..1]).unwrap();
        assert_eq!(index.len(), 4);
        assert_eq!(index.rebuild(ms[1..].iter().cloned().map(Ok)).unwrap(), 3);
        assert_eq!(index.len(), 3);
        assert_ne!(first(&index, "edison"), Some(ms[0].id()));
    }
}
