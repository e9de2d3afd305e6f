//! Variable layers, the minijinja environment and the Ansible filters
