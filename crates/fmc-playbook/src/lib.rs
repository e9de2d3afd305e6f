//! Playbook and role files to an untemplated AST with source spans
