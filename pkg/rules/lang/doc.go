// Package lang is the part of the rule language every schema shares: the
// condition functions, macro and list expansion, exceptions, output
// templates, the checks every rule passes and the rule-set version hash.
// A schema (pkg/rules/host for runtime events, pkg/rules/cloud for cloud
// logs) supplies only its environment: the fields conditions see.
package lang
