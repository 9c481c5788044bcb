//! The FastRoute-style pattern compiler: optional tails expanded, parameters parsed,
//! patterns normalised for conflict checks and turned into regexes — pure functions on text,
//! apart from the router's tables.

use std::sync::Arc;

use regex::Regex;

use super::RouteError;

/// A piece of a concrete (optional-free) pattern.
pub(super) enum Part {
    Static(String),
    Param { name: String, regex: Option<String> },
}

fn invalid(pattern: &str, reason: impl Into<String>) -> RouteError {
    RouteError::InvalidPattern {
        pattern: pattern.to_string(),
        reason: reason.into(),
    }
}

/// `/a[/b[/c]]` → `/a`, `/a/b`, `/a/b/c`. Optional parts may only close at the end.
pub(super) fn expand_optional(pattern: &str) -> Result<Vec<String>, RouteError> {
    if !pattern.starts_with('/') {
        return Err(invalid(pattern, "a pattern starts with '/'"));
    }
    let mut alternatives = Vec::new();
    let mut current = String::new();
    let mut depth_braces = 0usize;
    let mut optional_depth = 0usize;
    let mut closing = false;
    for c in pattern.chars() {
        match c {
            '{' => {
                depth_braces += 1;
                current.push(c);
            }
            '}' => {
                depth_braces = depth_braces
                    .checked_sub(1)
                    .ok_or_else(|| invalid(pattern, "unbalanced '}'"))?;
                current.push(c);
            }
            '[' if depth_braces == 0 => {
                if closing {
                    return Err(invalid(
                        pattern,
                        "optional segments can only occur at the end",
                    ));
                }
                alternatives.push(current.clone());
                optional_depth += 1;
            }
            ']' if depth_braces == 0 => {
                optional_depth = optional_depth
                    .checked_sub(1)
                    .ok_or_else(|| invalid(pattern, "unbalanced ']'"))?;
                closing = true;
            }
            _ if closing => {
                return Err(invalid(
                    pattern,
                    "optional segments can only occur at the end",
                ));
            }
            _ => current.push(c),
        }
    }
    if depth_braces != 0 || optional_depth != 0 {
        return Err(invalid(pattern, "unbalanced brackets"));
    }
    alternatives.push(current);
    if alternatives.iter().any(|a| a.is_empty()) {
        return Err(invalid(pattern, "an empty optional segment"));
    }
    Ok(alternatives)
}

pub(super) fn parse_parts(concrete: &str, pattern: &str) -> Result<Vec<Part>, RouteError> {
    let mut parts = Vec::new();
    let mut rest = concrete;
    while let Some(open) = rest.find('{') {
        if open > 0 {
            parts.push(Part::Static(rest[..open].to_string()));
        }
        // The parameter ends at the brace that balances this one (its regex may hold braces).
        let mut depth = 0usize;
        let close = rest[open..]
            .char_indices()
            .find_map(|(i, c)| {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(open + i);
                        }
                    }
                    _ => {}
                }
                None
            })
            .ok_or_else(|| invalid(pattern, "unclosed '{'"))?;
        let inside = &rest[open + 1..close];
        let (name, regex) = match inside.split_once(':') {
            Some((name, regex)) => (name.trim(), Some(regex.trim().to_string())),
            None => (inside.trim(), None),
        };
        if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
            return Err(invalid(pattern, format!("bad parameter name {name:?}")));
        }
        if parts
            .iter()
            .any(|p| matches!(p, Part::Param { name: n, .. } if n == name))
        {
            return Err(invalid(
                pattern,
                format!("parameter {name:?} appears twice"),
            ));
        }
        parts.push(Part::Param {
            name: name.to_string(),
            regex,
        });
        rest = &rest[close + 1..];
    }
    if !rest.is_empty() {
        parts.push(Part::Static(rest.to_string()));
    }
    Ok(parts)
}

pub(super) fn static_path(parts: &[Part]) -> Option<String> {
    parts
        .iter()
        .map(|p| match p {
            Part::Static(text) => Some(text.as_str()),
            Part::Param { .. } => None,
        })
        .collect()
}

/// The pattern with parameter names dropped: two routes that normalise alike match alike.
pub(super) fn normalise(parts: &[Part]) -> String {
    parts
        .iter()
        .map(|p| match p {
            Part::Static(text) => text.clone(),
            Part::Param { regex, .. } => {
                format!("{{{}}}", regex.as_deref().unwrap_or(DEFAULT_PARAM))
            }
        })
        .collect()
}

/// What a parameter without a constraint matches: one path segment.
const DEFAULT_PARAM: &str = "[^/]+";

pub(super) fn dynamic_regex(
    parts: &[Part],
    pattern: &str,
) -> Result<(Regex, Vec<Arc<str>>), RouteError> {
    let mut source = String::from("^");
    let mut names = Vec::new();
    for part in parts {
        match part {
            Part::Static(text) => source.push_str(&regex::escape(text)),
            Part::Param { name, regex } => {
                source.push_str(&format!(
                    "(?P<p{}>{})",
                    names.len(),
                    regex.as_deref().unwrap_or(DEFAULT_PARAM)
                ));
                names.push(Arc::from(name.as_str()));
            }
        }
    }
    source.push('$');
    let regex = Regex::new(&source).map_err(|e| invalid(pattern, e.to_string()))?;
    Ok((regex, names))
}
