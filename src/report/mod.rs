//! Reports over a run or an inspection: instance states ([`status`]), why an
//! instance reruns ([`explain`]), final metrics ([`metrics`]), the outcome of
//! a run ([`run_report`]) and sweep tables and curves ([`sweep_results`],
//! [`sweep_ranking`], [`sweep_table`], [`sweep_view`], [`sweep_curves`]), the record of each pipeline's last run
//! ([`last_run`]) and the HTML report of a run ([`html`]).

pub mod explain;
pub mod html;
pub mod last_run;
pub mod metrics;
pub mod run_report;
pub mod status;
pub mod sweep_curves;
pub mod sweep_ranking;
pub mod sweep_results;
pub mod sweep_table;
pub mod sweep_view;
