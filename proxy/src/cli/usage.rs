//! `gatehouse usage`: a running gateway's usage report (the admin API's `/usage`), as a table,
//! JSON or CSV.

use super::admin_client::AdminClient;
use crate::{UsageArgs, UsageFormat};
use serde_json::Value;

/// The stages' columns after date, API and stage, as the admin API names them.
const STAGE_COLUMNS: [&str; 7] = [
    "requests",
    "bytes_in",
    "bytes_out",
    "cache_hits",
    "cache_misses",
    "websocket_connection_minutes",
    "websocket_messages",
];

/// Runs `gatehouse usage` against the gateway serving the config.
pub fn usage(args: UsageArgs) -> Result<String, String> {
    let config = args.config.ok_or("expected --config FILE")?;
    let admin = AdminClient::of_config(&config, "usage reports")?;
    let mut query = Vec::new();
    for (name, value) in [
        ("start", &args.start),
        ("end", &args.end),
        ("keyId", &args.key_id),
    ] {
        if let Some(v) = value {
            query.push(format!("{name}={}", encode(v)));
        }
    }
    let path = match &args.plan {
        Some(plan) => format!("/usage/plans/{}", encode(plan)),
        None => "/usage".to_owned(),
    };
    let path = if query.is_empty() {
        path
    } else {
        format!("{path}?{}", query.join("&"))
    };
    let report = admin.call("GET", &path)?;
    let plans: Vec<&Value> = match &args.plan {
        Some(_) => vec![&report],
        None => report["plans"].as_array().into_iter().flatten().collect(),
    };
    let stage_rows = stage_rows(&report);
    let key_rows = key_rows(&plans);
    Ok(match args.format {
        UsageFormat::Json => report.to_string(),
        UsageFormat::Csv if args.plan.is_some() => csv(
            &[
                "plan",
                "key_id",
                "key_name",
                "date",
                "requests",
                "quota_remaining",
            ],
            &key_rows,
        ),
        UsageFormat::Csv => {
            let mut head = vec!["date", "api", "stage"];
            head.extend(STAGE_COLUMNS);
            csv(&head, &stage_rows)
        }
        UsageFormat::Table => {
            let mut out = String::new();
            if args.plan.is_none() {
                let mut head = vec!["DATE", "API", "STAGE", "REQUESTS", "BYTES IN", "BYTES OUT"];
                head.extend(["CACHE HITS", "CACHE MISSES", "WS MINUTES", "WS MESSAGES"]);
                out.push_str(&table(&head, &stage_rows));
                out.push('\n');
            }
            let head = [
                "PLAN",
                "KEY ID",
                "KEY NAME",
                "DATE",
                "REQUESTS",
                "QUOTA LEFT",
            ];
            out.push_str(&table(&head, &key_rows));
            out.trim_end().to_owned()
        }
    })
}

fn stage_rows(report: &Value) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for s in report["stages"].as_array().into_iter().flatten() {
        for d in s["days"].as_array().into_iter().flatten() {
            let mut row = vec![text(&d["date"]), text(&s["api"]), text(&s["stage"])];
            row.extend(STAGE_COLUMNS.iter().map(|c| text(&d[*c])));
            rows.push(row);
        }
    }
    rows
}

fn key_rows(plans: &[&Value]) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for p in plans {
        for k in p["keys"].as_array().into_iter().flatten() {
            for d in k["days"].as_array().into_iter().flatten() {
                rows.push(vec![
                    text(&p["usagePlanId"]),
                    text(&k["id"]),
                    text(&k["name"]),
                    text(&d["date"]),
                    text(&d["requests"]),
                    text(&d["quota_remaining"]),
                ]);
            }
        }
    }
    rows
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn table(head: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = head.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut l = String::new();
        for (cell, w) in cells.zip(&widths) {
            l.push_str(&format!("{cell:<w$}  "));
        }
        l.trim_end().to_owned() + "\n"
    };
    let mut out = line(&mut head.iter().copied());
    for row in rows {
        out.push_str(&line(&mut row.iter().map(String::as_str)));
    }
    out
}

fn csv(head: &[&str], rows: &[Vec<String>]) -> String {
    let field = |s: &str| {
        if s.contains([',', '"', '\n']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_owned()
        }
    };
    let mut out = head.join(",");
    for row in rows {
        out.push('\n');
        out.push_str(&row.iter().map(|c| field(c)).collect::<Vec<_>>().join(","));
    }
    out
}
