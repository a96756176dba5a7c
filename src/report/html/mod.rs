//! `lungflow report`: one self-contained HTML page per pipeline run.
//!
//! - [`build`]: gathers the facts ([`facts`]) and draws the sections:
//!   [`overview`] (summary, graph, timeline, resources), [`content`]
//!   (models, data, with the charts kinds declare in [`curves`]) and [`outcomes`] (predictions with their lineage, sweep,
//!   failures), inside [`page`] (the document, its style and its one small
//!   script, all inline);
//! - [`svg`], [`dag`], [`timeline`]: pictures drawn as inline SVG (pure
//!   functions of plain data), with [`axis`] (ticks and scales) and
//!   [`dag_layout`] (the stage graph's layered layout) beneath them.
//!
//! Nothing in the page refers to anything outside it: images are data URLs,
//! pictures are SVG, and there are no fonts, stylesheets or scripts to fetch.

pub mod axis;
pub mod build;
pub mod content;
pub mod curves;
pub mod dag;
pub mod dag_layout;
pub mod facts;
pub mod outcomes;
pub mod overview;
pub mod page;
pub mod svg;
pub mod timeline;
