//! Include/exclude filters on topic and group names (cardinality control):
//! a name is watched when it matches the include pattern (if any) and not the
//! exclude pattern. Patterns must match the whole name.

use regex::Regex;

#[derive(Debug, Clone, Default)]
pub struct NameFilter {
    include: Option<Regex>,
    exclude: Option<Regex>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{option} is not a valid regular expression: {reason}")]
pub struct FilterError {
    pub option: &'static str,
    pub reason: String,
}

fn anchored(option: &'static str, pattern: &str) -> Result<Regex, FilterError> {
    Regex::new(&format!("^(?:{pattern})$")).map_err(|e| FilterError {
        option,
        reason: e
            .to_string()
            .lines()
            .last()
            .unwrap_or_default()
            .trim()
            .to_string(),
    })
}

impl NameFilter {
    pub fn new(
        include: Option<(&'static str, &str)>,
        exclude: Option<(&'static str, &str)>,
    ) -> Result<Self, FilterError> {
        Ok(NameFilter {
            include: include.map(|(o, p)| anchored(o, p)).transpose()?,
            exclude: exclude.map(|(o, p)| anchored(o, p)).transpose()?,
        })
    }

    pub fn allows(&self, name: &str) -> bool {
        self.include.as_ref().is_none_or(|re| re.is_match(name))
            && !self.exclude.as_ref().is_some_and(|re| re.is_match(name))
    }

    pub fn is_everything(&self) -> bool {
        self.include.is_none() && self.exclude.is_none()
    }
}

/// Which topics and groups the collector samples.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    pub topics: NameFilter,
    pub groups: NameFilter,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn include_and_exclude_match_whole_names() {
        let filter = NameFilter::new(
            Some(("--include-topics", "orders.*|payments")),
            Some(("--exclude-topics", ".*-dlq")),
        )
        .unwrap();
        assert!(filter.allows("orders"));
        assert!(filter.allows("orders-eu"));
        assert!(!filter.allows("orders-dlq"));
        assert!(!filter.allows("payments-v2"), "patterns are anchored");
        assert!(!filter.allows("page-views"));
    }

    #[test]
    fn empty_filter_allows_everything() {
        let filter = NameFilter::default();
        assert!(filter.is_everything());
        assert!(filter.allows("anything at all"));
    }

    #[test]
    fn bad_pattern_names_the_option() {
        let error = NameFilter::new(Some(("--include-groups", "(")), None).unwrap_err();
        assert_eq!(error.option, "--include-groups");
        assert!(error
            .to_string()
            .starts_with("--include-groups is not a valid"));
    }
}
