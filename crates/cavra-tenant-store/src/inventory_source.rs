//! Reading inventory sources into [`InventoryItem`]s: JSON (an array of items, or a page
//! `{"items": [...], "next": URL}`), CSV (a header row naming the columns) and osquery results
//! (the results log: one JSON object per line with `name`, `hostIdentifier`, `unixTime` and
//! `columns` or `snapshot`, or a JSON array of them). Every input is bounded: its bytes, its
//! items and each field, checked while reading, so that a hostile file is refused before it
//! costs memory. Errors name the source and the line (and column), as an editor would.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::inventory::{InventoryItem, InventoryKind};

/// How much one import may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceLimits {
    /// Bytes of one source (one page of an HTTP source).
    pub max_bytes: usize,
    /// Items of one import (all pages).
    pub max_items: usize,
    /// Bytes of one field (an id, a name, a CSV cell).
    pub max_field_bytes: usize,
}

impl Default for SourceLimits {
    fn default() -> Self {
        SourceLimits {
            max_bytes: 16 << 20,
            max_items: 100_000,
            max_field_bytes: 4_096,
        }
    }
}

/// The formats a source can be in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum SourceFormat {
    /// An array of items, or a page with `items` and `next`.
    Json,
    /// A header row, then one item a row.
    Csv,
    /// osquery's results log.
    Osquery,
}

impl SourceFormat {
    /// Its word.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceFormat::Json => "json",
            SourceFormat::Csv => "csv",
            SourceFormat::Osquery => "osquery",
        }
    }

    /// Reads its word.
    pub fn parse(s: &str) -> Option<SourceFormat> {
        match s {
            "json" => Some(SourceFormat::Json),
            "csv" => Some(SourceFormat::Csv),
            "osquery" => Some(SourceFormat::Osquery),
            _ => None,
        }
    }

    /// The format a file's name suggests (`.csv`, `.ndjson`/`.log` for osquery), else JSON.
    pub fn from_name(name: &str) -> SourceFormat {
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".csv") {
            SourceFormat::Csv
        } else if lower.ends_with(".ndjson") || lower.ends_with(".log") {
            SourceFormat::Osquery
        } else {
            SourceFormat::Json
        }
    }
}

/// Why a source was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// Too many bytes.
    #[error("{source_name}: {size} bytes, over the limit of {max}")]
    TooLarge {
        /// The source.
        source_name: String,
        /// Its size (or the size read when it was stopped).
        size: usize,
        /// The limit.
        max: usize,
    },
    /// Too many items.
    #[error("{source_name}: more than {max} items")]
    TooManyItems {
        /// The source.
        source_name: String,
        /// The limit.
        max: usize,
    },
    /// Something wrong at a place in it.
    #[error("{source_name}:{line}:{column}: {message}")]
    At {
        /// The source.
        source_name: String,
        /// 1-based line.
        line: usize,
        /// 1-based column (CSV: the field's number).
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// Something wrong with an item whose place is not known any more (JSON).
    #[error("{source_name}: item {index}: {message}")]
    Item {
        /// The source.
        source_name: String,
        /// 1-based position among the items.
        index: usize,
        /// What is wrong.
        message: String,
    },
}

/// What one source gave: its items and, for a JSON page, the next page's URL.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Parsed {
    /// The items, ids unique.
    pub items: Vec<InventoryItem>,
    /// A JSON page's `next`.
    pub next: Option<String>,
}

/// Reads `bytes` of `source_name` in `format`.
pub fn parse_source(
    bytes: &[u8],
    format: SourceFormat,
    source_name: &str,
    limits: &SourceLimits,
) -> Result<Parsed, SourceError> {
    if bytes.len() > limits.max_bytes {
        return Err(SourceError::TooLarge {
            source_name: source_name.to_string(),
            size: bytes.len(),
            max: limits.max_bytes,
        });
    }
    let ctx = Ctx {
        source_name,
        limits,
    };
    match format {
        SourceFormat::Json => ctx.json(bytes),
        SourceFormat::Csv => ctx.csv(bytes),
        SourceFormat::Osquery => ctx.osquery(bytes),
    }
}

/// An item as a source gives it, before it is checked.
#[derive(Debug, Default, Deserialize)]
struct RawItem {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default, alias = "hostname", alias = "host")]
    name: Option<String>,
    #[serde(default)]
    endpoint: Option<String>,
    #[serde(default)]
    repository: Option<String>,
    #[serde(default)]
    last_seen: Option<String>,
    #[serde(default)]
    hooks: Option<Value>,
    #[serde(flatten)]
    attributes: Map<String, Value>,
}

struct Ctx<'a> {
    source_name: &'a str,
    limits: &'a SourceLimits,
}

impl Ctx<'_> {
    fn at(&self, line: usize, column: usize, message: impl Into<String>) -> SourceError {
        SourceError::At {
            source_name: self.source_name.to_string(),
            line,
            column,
            message: message.into(),
        }
    }

    fn too_many(&self) -> SourceError {
        SourceError::TooManyItems {
            source_name: self.source_name.to_string(),
            max: self.limits.max_items,
        }
    }

    fn json_error(&self, e: serde_json::Error) -> SourceError {
        if e.to_string().starts_with(TOO_MANY) {
            return self.too_many();
        }
        self.at(e.line().max(1), e.column().max(1), strip_position(&e))
    }

    /// Checks a raw item and gives it its id.
    fn item(&self, raw: RawItem) -> Result<InventoryItem, String> {
        let kind_word = raw.kind.ok_or("no `kind`")?;
        let kind = InventoryKind::parse(&kind_word).ok_or_else(|| {
            format!(
                "kind `{}` is not one of endpoint, repository, ci_runner, agent, mcp_server",
                shorten(&kind_word)
            )
        })?;
        let name = raw.name.map(|n| n.trim().to_string()).unwrap_or_default();
        if name.is_empty() {
            return Err("no `name`".into());
        }
        let endpoint = raw
            .endpoint
            .map(|e| e.trim().to_string())
            .filter(|e| !e.is_empty());
        let repository = raw
            .repository
            .map(|e| e.trim().to_string())
            .filter(|e| !e.is_empty());
        let hooks = match raw.hooks {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(b),
            Some(Value::String(s)) => truth(&s).map_err(|e| format!("`hooks`: {e}"))?,
            Some(Value::Number(n)) => Some(n.as_f64() != Some(0.0)),
            Some(_) => return Err("`hooks` is not true or false".into()),
        };
        let last_seen = raw
            .last_seen
            .filter(|s| !s.trim().is_empty())
            .map(|s| normalise_time(&s))
            .transpose()?;
        for (field, value) in [
            ("name", Some(&name)),
            ("endpoint", endpoint.as_ref()),
            ("repository", repository.as_ref()),
        ] {
            if let Some(v) = value {
                self.field(field, v)?;
            }
        }
        let id = match raw
            .id
            .map(|i| i.trim().to_string())
            .filter(|i| !i.is_empty())
        {
            Some(id) => id,
            None => stable_id(kind, &name, endpoint.as_deref()),
        };
        self.field("id", &id)?;
        let encoded = serde_json::to_string(&raw.attributes).map_err(|e| e.to_string())?;
        if encoded.len() > self.limits.max_field_bytes * 16 {
            return Err(format!(
                "its other fields take {} bytes, over {}",
                encoded.len(),
                self.limits.max_field_bytes * 16
            ));
        }
        Ok(InventoryItem {
            id,
            kind,
            name,
            endpoint,
            repository,
            last_seen,
            hooks,
            attributes: raw.attributes,
        })
    }

    fn field(&self, field: &str, v: &str) -> Result<(), String> {
        if v.len() > self.limits.max_field_bytes {
            return Err(format!(
                "`{field}` is {} bytes, over {}",
                v.len(),
                self.limits.max_field_bytes
            ));
        }
        if v.chars().any(char::is_control) {
            return Err(format!("`{field}` holds a control character"));
        }
        Ok(())
    }

    fn json(&self, bytes: &[u8]) -> Result<Parsed, SourceError> {
        let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let seed = Items(self.limits.max_items);
        let (raws, next) = match first {
            Some(b'[') => (
                seed.deserialize(&mut de).map_err(|e| self.json_error(e))?,
                None,
            ),
            Some(b'{') => {
                de::Deserializer::deserialize_map(&mut de, PageVisitor(self.limits.max_items))
                    .map_err(|e| self.json_error(e))?
            }
            _ => {
                return Err(self.at(
                    1,
                    1,
                    "expected a JSON array of items or an object with `items`",
                ));
            }
        };
        de.end().map_err(|e| self.json_error(e))?;
        let mut items = Vec::with_capacity(raws.len());
        let mut ids: HashMap<String, usize> = HashMap::new();
        for (i, raw) in raws.into_iter().enumerate() {
            let item = self.item(raw).map_err(|message| SourceError::Item {
                source_name: self.source_name.to_string(),
                index: i + 1,
                message,
            })?;
            if let Some(first) = ids.insert(item.id.clone(), i + 1) {
                return Err(SourceError::Item {
                    source_name: self.source_name.to_string(),
                    index: i + 1,
                    message: format!("the id `{}` is item {first}'s too", item.id),
                });
            }
            items.push(item);
        }
        Ok(Parsed { items, next })
    }

    fn csv(&self, bytes: &[u8]) -> Result<Parsed, SourceError> {
        let text = std::str::from_utf8(bytes).map_err(|e| {
            let before = &bytes[..e.valid_up_to()];
            let line = before.iter().filter(|b| **b == b'\n').count() + 1;
            self.at(line, 1, "not UTF-8")
        })?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut rows = CsvRows::new(text, self.limits.max_field_bytes);
        let Some(header) = rows.next_row().map_err(|(l, c, m)| self.at(l, c, m))? else {
            return Err(self.at(1, 1, "no header row"));
        };
        let header: Vec<String> = header
            .1
            .iter()
            .map(|h| h.trim().to_ascii_lowercase())
            .collect();
        if !header.iter().any(|h| h == "kind") {
            return Err(self.at(
                header_line(&rows),
                1,
                "the header row names no `kind` column",
            ));
        }
        let mut items = Vec::new();
        let mut ids: HashMap<String, usize> = HashMap::new();
        while let Some((line, cells)) = rows.next_row().map_err(|(l, c, m)| self.at(l, c, m))? {
            if cells.len() == 1 && cells[0].trim().is_empty() {
                continue;
            }
            if cells.len() != header.len() {
                return Err(self.at(
                    line,
                    cells.len().min(header.len()) + 1,
                    format!(
                        "{} fields where the header has {}",
                        cells.len(),
                        header.len()
                    ),
                ));
            }
            if items.len() >= self.limits.max_items {
                return Err(self.too_many());
            }
            let mut raw = RawItem::default();
            for (name, cell) in header.iter().zip(cells) {
                let value = (!cell.is_empty()).then_some(cell);
                match name.as_str() {
                    "id" => raw.id = value,
                    "kind" => raw.kind = value,
                    "name" | "hostname" | "host" => raw.name = raw.name.or(value),
                    "endpoint" => raw.endpoint = value,
                    "repository" => raw.repository = value,
                    "last_seen" => raw.last_seen = value,
                    "hooks" => raw.hooks = value.map(Value::String),
                    _ => {
                        if let Some(v) = value {
                            raw.attributes.insert(name.clone(), Value::String(v));
                        }
                    }
                }
            }
            let item = self
                .item(raw)
                .map_err(|m| self.at(line, column_of(&m, &header), m))?;
            if let Some(first) = ids.insert(item.id.clone(), line) {
                return Err(self.at(
                    line,
                    1,
                    format!("the id `{}` is line {first}'s too", item.id),
                ));
            }
            items.push(item);
        }
        Ok(Parsed { items, next: None })
    }

    fn osquery(&self, bytes: &[u8]) -> Result<Parsed, SourceError> {
        let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
        let mut results: Vec<(usize, OsqueryResult)> = Vec::new();
        if first == Some(&b'[') {
            let all: Vec<OsqueryResult> =
                serde_json::from_slice(bytes).map_err(|e| self.json_error(e))?;
            results.extend(all.into_iter().map(|r| (0, r)));
        } else {
            let text = std::str::from_utf8(bytes).map_err(|e| {
                let line = bytes[..e.valid_up_to()]
                    .iter()
                    .filter(|b| **b == b'\n')
                    .count()
                    + 1;
                self.at(line, 1, "not UTF-8")
            })?;
            for (i, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                let r: OsqueryResult = serde_json::from_str(line)
                    .map_err(|e| self.at(i + 1, e.column().max(1), strip_position(&e)))?;
                results.push((i + 1, r));
                if results.len() > self.limits.max_items {
                    return Err(self.too_many());
                }
            }
        }
        let mut out: BTreeMap<String, InventoryItem> = BTreeMap::new();
        let mut rows = 0usize;
        for (line, r) in results {
            let err = |m: String| match line {
                0 => SourceError::Item {
                    source_name: self.source_name.to_string(),
                    index: 1,
                    message: m,
                },
                l => self.at(l, 1, m),
            };
            let host = r.host_identifier.trim().to_string();
            if host.is_empty() {
                return Err(err("no `hostIdentifier`".into()));
            }
            let seen = r
                .unix_time
                .as_ref()
                .and_then(value_int)
                .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
                .map(format_time);
            let mut pending = vec![RawItem {
                kind: Some("endpoint".into()),
                name: Some(host.clone()),
                last_seen: seen.clone(),
                ..RawItem::default()
            }];
            let kind = osquery_kind(&r.name);
            let rows_of: Vec<Map<String, Value>> = match (r.columns, r.snapshot) {
                (Some(c), _) if r.action.as_deref() != Some("removed") => vec![c],
                (_, Some(s)) => s,
                _ => Vec::new(),
            };
            for mut row in rows_of {
                let Some(kind) = kind else { break };
                rows += 1;
                if rows > self.limits.max_items {
                    return Err(self.too_many());
                }
                let name = ["name", "server", "path", "remote"]
                    .iter()
                    .find_map(|k| row.get(*k).and_then(Value::as_str).map(str::to_string));
                let hooks = row.remove("hooks");
                pending.push(RawItem {
                    kind: Some(kind.as_str().into()),
                    name,
                    endpoint: (kind != InventoryKind::Repository).then(|| host.clone()),
                    last_seen: seen.clone(),
                    hooks,
                    attributes: row,
                    ..RawItem::default()
                });
            }
            for raw in pending {
                let item = self.item(raw).map_err(&err)?;
                match out.get_mut(&item.id) {
                    Some(old) => {
                        if item.last_seen > old.last_seen {
                            *old = item;
                        }
                    }
                    None => {
                        if out.len() >= self.limits.max_items {
                            return Err(self.too_many());
                        }
                        out.insert(item.id.clone(), item);
                    }
                }
            }
        }
        Ok(Parsed {
            items: out.into_values().collect(),
            next: None,
        })
    }
}

/// The item kind an osquery query's name says its rows are (`…mcp…`, `…agent…`, `…repo…`,
/// `…runner…`); None: the rows only say the host is there.
fn osquery_kind(query: &str) -> Option<InventoryKind> {
    let q = query.to_ascii_lowercase();
    if q.contains("mcp") {
        Some(InventoryKind::McpServer)
    } else if q.contains("agent") {
        Some(InventoryKind::Agent)
    } else if q.contains("repo") {
        Some(InventoryKind::Repository)
    } else if q.contains("runner") {
        Some(InventoryKind::CiRunner)
    } else {
        None
    }
}

#[derive(Deserialize)]
struct OsqueryResult {
    #[serde(default)]
    name: String,
    #[serde(rename = "hostIdentifier", default)]
    host_identifier: String,
    #[serde(rename = "unixTime", default)]
    unix_time: Option<Value>,
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    columns: Option<Map<String, Value>>,
    #[serde(default)]
    snapshot: Option<Vec<Map<String, Value>>>,
}

fn value_int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// The id an item gets when its source gives none: `kind:name`, and `@endpoint` for what is
/// on an endpoint, so that the same agent on two machines is two items.
pub fn stable_id(kind: InventoryKind, name: &str, endpoint: Option<&str>) -> String {
    match endpoint {
        Some(e) if kind != InventoryKind::Endpoint && kind != InventoryKind::Repository => {
            format!("{}:{name}@{e}", kind.as_str())
        }
        _ => format!("{}:{name}", kind.as_str()),
    }
}

/// Error text that marks a JSON array cut off at the item limit.
const TOO_MANY: &str = "cavra: too many items";

/// A JSON array of items, refused past `.0` of them while it is read.
struct Items(usize);

impl<'de> DeserializeSeed<'de> for Items {
    type Value = Vec<RawItem>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Items {
    type Value = Vec<RawItem>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of inventory items")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(item) = seq.next_element::<RawItem>()? {
            if out.len() >= self.0 {
                return Err(de::Error::custom(TOO_MANY));
            }
            out.push(item);
        }
        Ok(out)
    }
}

/// A page: `items` (bounded) and `next`; other keys are ignored.
struct PageVisitor(usize);

impl<'de> Visitor<'de> for PageVisitor {
    type Value = (Vec<RawItem>, Option<String>);

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object with `items`")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut items, mut next) = (None, None);
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "items" => items = Some(map.next_value_seed(Items(self.0))?),
                "next" => next = map.next_value::<Option<String>>()?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let items = items.ok_or_else(|| de::Error::missing_field("items"))?;
        Ok((items, next.filter(|n| !n.is_empty())))
    }
}

/// serde_json's message without its " at line L column C" (the error says where already).
fn strip_position(e: &serde_json::Error) -> String {
    let s = e.to_string();
    match s.rfind(" at line ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

fn shorten(s: &str) -> String {
    s.chars().take(40).collect()
}

fn truth(s: &str) -> Result<Option<bool>, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "" => Ok(None),
        "true" | "yes" | "1" | "y" => Ok(Some(true)),
        "false" | "no" | "0" | "n" => Ok(Some(false)),
        other => Err(format!("`{}` is not true or false", shorten(other))),
    }
}

/// An RFC 3339 time in the store's form (UTC, milliseconds).
fn normalise_time(s: &str) -> Result<String, String> {
    time::OffsetDateTime::parse(s.trim(), &time::format_description::well_known::Rfc3339)
        .map(format_time)
        .map_err(|e| format!("`last_seen` `{}` is not an RFC 3339 time: {e}", shorten(s)))
}

fn format_time(t: time::OffsetDateTime) -> String {
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    t.to_offset(time::UtcOffset::UTC)
        .format(&fmt)
        .unwrap_or_else(|_| "1970-01-01T00:00:00.000Z".into())
}

/// The CSV column an item error is about (the field it names), else 1.
fn column_of(message: &str, header: &[String]) -> usize {
    header
        .iter()
        .position(|h| message.contains(&format!("`{h}`")))
        .map(|i| i + 1)
        .unwrap_or(1)
}

fn header_line(rows: &CsvRows<'_>) -> usize {
    rows.line.saturating_sub(1).max(1)
}

/// RFC 4180 rows: fields separated by commas, quoted with `"` (doubled inside), rows ended by
/// LF or CRLF; a quoted field may span lines.
struct CsvRows<'a> {
    rest: std::iter::Peekable<std::str::Chars<'a>>,
    line: usize,
    max_field: usize,
}

/// A CSV error: line, column, message.
type CsvError = (usize, usize, String);

impl<'a> CsvRows<'a> {
    fn new(text: &'a str, max_field: usize) -> Self {
        CsvRows {
            rest: text.chars().peekable(),
            line: 1,
            max_field,
        }
    }

    /// The next row and the line it starts on; None at the end.
    fn next_row(&mut self) -> Result<Option<(usize, Vec<String>)>, CsvError> {
        if self.rest.peek().is_none() {
            return Ok(None);
        }
        self.row().map(Some)
    }

    fn row(&mut self) -> Result<(usize, Vec<String>), CsvError> {
        let start = self.line;
        let mut fields = Vec::new();
        let mut field = String::new();
        let mut quoted = false;
        let mut was_quoted = false;
        loop {
            let Some(c) = self.rest.next() else {
                if quoted {
                    return Err((
                        start,
                        fields.len() + 1,
                        "a quoted field is not closed".into(),
                    ));
                }
                fields.push(field);
                return Ok((start, fields));
            };
            if quoted {
                match c {
                    '"' if self.rest.peek() == Some(&'"') => {
                        self.rest.next();
                        field.push('"');
                    }
                    '"' => quoted = false,
                    '\n' => {
                        self.line += 1;
                        field.push(c);
                    }
                    _ => field.push(c),
                }
            } else {
                match c {
                    ',' => {
                        fields.push(std::mem::take(&mut field));
                        was_quoted = false;
                    }
                    '\n' => {
                        self.line += 1;
                        fields.push(field);
                        return Ok((start, fields));
                    }
                    '\r' if self.rest.peek() == Some(&'\n') => {}
                    '"' if field.is_empty() && !was_quoted => {
                        quoted = true;
                        was_quoted = true;
                    }
                    '"' => {
                        return Err((
                            self.line,
                            fields.len() + 1,
                            "a quote inside an unquoted field (quote the whole field, doubling the quote)".into(),
                        ));
                    }
                    _ if was_quoted => {
                        return Err((
                            self.line,
                            fields.len() + 1,
                            "text after a quoted field's closing quote".into(),
                        ));
                    }
                    _ => field.push(c),
                }
            }
            if field.len() > self.max_field {
                return Err((
                    self.line,
                    fields.len() + 1,
                    format!("a field over {} bytes", self.max_field),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests;
