//! Claims of a verified TD quote with upstream's names and encodings (verifiers spec §4.3):
//! `quote.header.*`, `quote.body.*` (and `quote.type`/`quote.size` for v5), `td_attributes`,
//! `report_data`, `init_data`, `uefi_event_logs`; every byte value lower-case hex of the
//! bytes as they appear in the quote (so integers read little-endian, e.g. version `"0400"`).

use serde_json::{Map, Value, json};

use crate::dcap::{BodyDescriptor, Quote, QuoteBody, TdReport10};
use crate::eventlog::EventLog;

/// TD attribute bits upstream reports by name (TDX module ABI, TDATTRIBUTES).
const TD_ATTRIBUTE_BITS: [(&str, u32); 5] = [
    ("debug", 0),
    ("septve_disable", 28),
    ("protection_keys", 30),
    ("key_locker", 31),
    ("perfmon", 63),
];

/// The claims read from a TD quote (no DCAP verification results) and, when given, its
/// replayed event log. Returns `None` for an SGX quote.
pub fn quote_claims(quote: &Quote, event_log: Option<&EventLog>) -> Option<Map<String, Value>> {
    let report = quote.body.td_report()?;
    let header = &quote.header;
    let mut quote_map = Map::new();
    quote_map.insert(
        "header".into(),
        json!({
            "version": hex::encode(header.version.to_le_bytes()),
            "att_key_type": hex::encode(header.att_key_type.to_le_bytes()),
            "tee_type": hex::encode(header.tee_type.to_le_bytes()),
            "reserved": hex::encode(header.reserved()),
            "vendor_id": hex::encode(header.qe_vendor_id),
            "user_data": hex::encode(header.user_data),
        }),
    );
    let mut body = td_report_claims(report);
    if let QuoteBody::Td15(report) = &quote.body {
        body.insert(
            "tee_tcb_svn2".into(),
            hex::encode(report.tee_tcb_svn2).into(),
        );
        body.insert(
            "mr_servicetd".into(),
            hex::encode(report.mr_servicetd).into(),
        );
    }
    quote_map.insert("body".into(), Value::Object(body));
    if let Some(BodyDescriptor { body_type, size }) = quote.body_descriptor {
        quote_map.insert("type".into(), hex::encode(body_type.to_le_bytes()).into());
        quote_map.insert("size".into(), hex::encode(size.to_le_bytes()).into());
    }

    let mut claims = Map::new();
    claims.insert("quote".into(), Value::Object(quote_map));
    claims.insert(
        "td_attributes".into(),
        Value::Object(td_attributes(&report.td_attributes)),
    );
    claims.insert("report_data".into(), hex::encode(report.report_data).into());
    claims.insert("init_data".into(), hex::encode(report.mr_config_id).into());
    if let Some(log) = event_log {
        let events = serde_json::to_value(&log.events).unwrap_or(Value::Array(Vec::new()));
        claims.insert("uefi_event_logs".into(), events);
    }
    Some(claims)
}

/// `quote.body` of a TDX 1.0 report.
fn td_report_claims(report: &TdReport10) -> Map<String, Value> {
    let mut body = Map::new();
    let mut put = |name: &str, bytes: &[u8]| {
        body.insert(name.to_owned(), hex::encode(bytes).into());
    };
    put("tcb_svn", &report.tee_tcb_svn);
    put("mr_seam", &report.mr_seam);
    put("mrsigner_seam", &report.mrsigner_seam);
    put("seam_attributes", &report.seam_attributes);
    put("td_attributes", &report.td_attributes);
    put("xfam", &report.xfam);
    put("mr_td", &report.mr_td);
    put("mr_config_id", &report.mr_config_id);
    put("mr_owner", &report.mr_owner);
    put("mr_owner_config", &report.mr_owner_config);
    put("rtmr_0", &report.rtmr[0]);
    put("rtmr_1", &report.rtmr[1]);
    put("rtmr_2", &report.rtmr[2]);
    put("rtmr_3", &report.rtmr[3]);
    put("report_data", &report.report_data);
    body
}

/// The named TD attribute bits as booleans.
fn td_attributes(raw: &[u8; 8]) -> Map<String, Value> {
    let bits = u64::from_le_bytes(*raw);
    TD_ATTRIBUTE_BITS
        .iter()
        .map(|(name, bit)| ((*name).to_owned(), Value::Bool(bits & (1 << bit) != 0)))
        .collect()
}
