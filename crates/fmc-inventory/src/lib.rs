//! Inventory files (YAML and INI) to hosts, groups and vars; host patterns
