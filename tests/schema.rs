//! The JSON Schema of the connection file (scenarios/fakta.schema.json, `fakta schema`), checked
//! with an independent validator, Python's jsonschema (tests/interop/schema_validate.py): every
//! shipped file and every valid file under tests/ passes it, every invalid fixture whose mistake
//! is one of shape (unknown key, wrong type, missing key, bad enum or pattern) fails it where
//! the mistake is, and the other fixtures, whose mistakes a schema cannot express, are listed
//! with the reason.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/interop/schema_validate.py"
);
/// The version tests/interop/requirements.txt pins.
const JSONSCHEMA_VERSION: &str = "4.26.0";
const SCHEMA_FILE: &str = "scenarios/fakta.schema.json";
/// The first line of every shipped file (the schema is next to them).
const MODELINE: &str = "# yaml-language-server: $schema=fakta.schema.json";

/// Invalid fixtures the schema refuses: the file, a JSON pointer at or under which the
/// validator must report an error, and the mistake.
const SHAPE_ERRORS: &[(&str, &str, &str)] = &[
    (
        "bad_trusted_origin",
        "/idp/trusted_origins/0",
        "`*` and a URL with a path are not origins (pattern)",
    ),
    (
        "sp_signs_unknown_kind",
        "/apps/0/sp_signs/1",
        "`authn_request` is not a kind of SP message (enum)",
    ),
    (
        "sp_signs_without_sp_certificate",
        "/apps/0",
        "`sp_signs` needs `sp_certificate` or `sp_metadata` (dependentSchemas)",
    ),
    (
        "bad_other_sso_urls",
        "/apps/0/other_sso_urls/0/index",
        "`index: one` is not a number",
    ),
    (
        "bad_attribute_name_format",
        "/apps/0/attributes/email",
        "`name_format: url` (enum)",
    ),
    (
        "bad_app_id_slug",
        "/apps/0/id",
        "an id with a space (pattern)",
    ),
    (
        "bad_assertion_lifetime",
        "/apps/0/assertion_lifetime_secs",
        "`5m` is not a number",
    ),
    (
        "bad_email",
        "/directory/users/1/email",
        "an email without `@`",
    ),
    (
        "bad_encryption",
        "/apps/0/encryption",
        "`certificate` missing, `block: tripledes-cbc` (enum)",
    ),
    (
        "bad_login_expect",
        "/scenarios/0/steps/0",
        "`expect: refused` (enum)",
    ),
    (
        "bad_logout_binding",
        "/scenarios/0/steps/1",
        "`binding: soap` (enum); binding without `from: idp`",
    ),
    (
        "bad_name_id_format",
        "/apps/0/name_id/format",
        "`format: email` (enum)",
    ),
    (
        "bad_revoke_status",
        "/scenarios/0/steps/1",
        "`expect_status: ok` is no status code",
    ),
    (
        "bad_scenario_name",
        "/scenarios/0/name",
        "a name with spaces (pattern)",
    ),
    (
        "bad_session_state",
        "/scenarios/0/steps/1",
        "`session: gone` (enum)",
    ),
    ("bad_sign_value", "/apps/0/sign", "`sign: always` (enum)"),
    (
        "bad_status_code",
        "/target/session/logged_in_when/status",
        "status 20 (range)",
    ),
    ("bad_url_scheme", "/apps/0/acs_url", "an ftp URL (pattern)"),
    (
        "bad_user_field",
        "/apps/0/attributes/email",
        "`email` is not `user.<field>`",
    ),
    (
        "base_url_with_query",
        "/idp/base_url",
        "a base URL with a query (pattern)",
    ),
    (
        "bool_not_bool",
        "/apps/0/allow_idp_initiated",
        "`yes` is no boolean (YAML 1.2, as fakta)",
    ),
    ("empty_file", "", "no mapping at all"),
    (
        "filter_two_kinds",
        "/apps/0/groups/filter",
        "two filter kinds (maxProperties)",
    ),
    ("idp_is_a_url", "/idp", "a URL where a mapping is expected"),
    (
        "json_pointer_without_slash",
        "/target/session/read/role/json",
        "a JSON pointer without `/`",
    ),
    (
        "many_errors_at_once",
        "/apps/0",
        "an unknown key `singing`, and more",
    ),
    (
        "missing_acs_url",
        "/apps/0",
        "a SAML app without `acs_url` (required)",
    ),
    ("missing_base_url", "/idp", "an empty `idp`"),
    ("missing_required_sections", "", "no `directory`, no `apps`"),
    ("no_apps", "/apps", "an empty app list (minItems)"),
    (
        "oidc_app_with_saml_keys",
        "/apps/0",
        "SAML keys in an OIDC app",
    ),
    (
        "oidc_bad_alg_redirect_and_claim",
        "/apps/0/signing_alg",
        "`HS256` (enum), a relative redirect URI, a reserved claim",
    ),
    (
        "oidc_public_client_with_secret",
        "/apps/0",
        "a secret with `token_endpoint_auth_method: none`",
    ),
    (
        "oidc_redirect_uri_fragment",
        "/apps/0/redirect_uris/1",
        "a redirect URI with a fragment (pattern)",
    ),
    (
        "oidc_bad_grant_types",
        "/apps/2/grant_types/0",
        "`password` (enum), a listed-twice grant, an empty list",
    ),
    (
        "oidc_initiate_login_uri_fragment",
        "/apps/0/initiate_login_uri",
        "an initiate login URI with a fragment (pattern)",
    ),
    (
        "oidc_client_jwt_methods",
        "/apps/0",
        "private_key_jwt without `jwks` (required), and more",
    ),
    (
        "oidc_secret_method_without_secret",
        "/apps/0",
        "client_secret_post without `client_secret`",
    ),
    (
        "reader_no_kind",
        "/target/session/read/role",
        "a reader of no kind (minProperties)",
    ),
    (
        "relative_acs_url",
        "/apps/0/acs_url",
        "a relative URL (pattern)",
    ),
    (
        "scenario_user_has_errors",
        "/directory/users/0/email",
        "an email without `@`",
    ),
    (
        "step_two_keys",
        "/scenarios/0/steps/0",
        "a step with two keys",
    ),
    (
        "target_app_has_errors",
        "/apps/0/acs_url",
        "a relative URL (pattern)",
    ),
    (
        "target_return_param_not_a_name",
        "/target/return_param",
        "a URL where a parameter name is expected",
    ),
    (
        "target_start_blank",
        "/target/start",
        "a command of spaces only (pattern)",
    ),
    (
        "too_deep",
        "",
        "no idp, directory or apps, an unknown top-level key (the nesting limit itself is fakta's)",
    ),
    ("top_level_list", "", "a list where a mapping is expected"),
    (
        "top_level_scalar",
        "",
        "a string where a mapping is expected",
    ),
    ("unknown_app_key", "/apps/0", "the unknown key `acs_urls`"),
    ("unknown_protocol", "/apps/0/protocol", "`saml2` (enum)"),
    (
        "unknown_step",
        "/scenarios/0/steps/0",
        "the unknown step `signin`",
    ),
    ("unknown_top_level_key", "", "the unknown key `version`"),
    (
        "url_credentials",
        "/idp/base_url",
        "credentials in a URL (pattern)",
    ),
    ("url_port_zero", "/idp/base_url", "port 0 (pattern)"),
    (
        "user_key_typo",
        "/directory/users/0",
        "the unknown key `emial`, `email` missing",
    ),
    (
        "wrong_type_attributes_list",
        "/apps/0/attributes",
        "a list where a mapping is expected",
    ),
    (
        "wrong_type_user_groups_not_list",
        "/directory/users/1/groups",
        "a string where a list is expected",
    ),
    (
        "wrong_type_users_not_list",
        "/directory/users",
        "a mapping where a list is expected",
    ),
    (
        "bad_flavor",
        "/idp/flavor",
        "a flavor fakta does not play (enum)",
    ),
    (
        "bad_tenant",
        "/idp/tenant",
        "a tenant that is no URL path segment (pattern)",
    ),
    (
        "flavor_group_claims",
        "/idp/domain",
        "a Google Workspace domain with a space (pattern)",
    ),
];

/// Invalid fixtures the schema lets through (or that are not YAML a validator can read), and why.
const NOT_SHAPE: &[(&str, Outcome, &str)] = &[
    (
        "oidc_wildcard_redirect",
        Outcome::Passes,
        "a wildcard redirect URI without `wildcard_redirect`, and one over a whole domain",
    ),
    (
        "bad_group_filter_and_mapping",
        Outcome::Passes,
        "a regex that does not compile",
    ),
    (
        "bad_regex",
        Outcome::Passes,
        "a regex that does not compile",
    ),
    ("bad_yaml_syntax", Outcome::NotYaml, "not YAML"),
    (
        "control_characters",
        Outcome::Passes,
        "control characters in values (fakta's character rules)",
    ),
    (
        "default_role_not_in_precedence",
        Outcome::Passes,
        "a cross-reference: the default role missing from the precedence",
    ),
    (
        "duplicate_app_id",
        Outcome::Passes,
        "uniqueness across items",
    ),
    (
        "duplicate_scenario_name",
        Outcome::Passes,
        "uniqueness across items",
    ),
    (
        "duplicate_user_id",
        Outcome::Passes,
        "uniqueness across items",
    ),
    (
        "duplicate_user_login",
        Outcome::Passes,
        "uniqueness across items",
    ),
    (
        "duplicate_yaml_key",
        Outcome::Passes,
        "a YAML-level mistake: the parser keeps one of the keys",
    ),
    (
        "lint_expectations_without_target",
        Outcome::Passes,
        "a lint warning",
    ),
    ("lint_homoglyph_user", Outcome::Passes, "a lint warning"),
    ("lint_google_saml_app", Outcome::Passes, "a lint warning"),
    ("lint_no_group_statement", Outcome::Passes, "a lint warning"),
    ("lint_no_role_precedence", Outcome::Passes, "a lint warning"),
    ("lint_role_maps_no_group", Outcome::Passes, "a lint warning"),
    (
        "lint_role_missing_from_precedence",
        Outcome::Passes,
        "a lint warning",
    ),
    (
        "lint_signed_assertions_response_only",
        Outcome::Passes,
        "a lint warning",
    ),
    (
        "lint_name_id_not_an_email",
        Outcome::Passes,
        "a lint warning",
    ),
    (
        "lint_recipient_destination_differ",
        Outcome::Passes,
        "a lint warning",
    ),
    (
        "name_id_custom_errors",
        Outcome::Passes,
        "a template's syntax, the fields it names (a cross-reference to the directory), `expression` only with `value: custom`",
    ),
    (
        "lint_unreachable_mapping",
        Outcome::Passes,
        "a lint warning",
    ),
    ("not_utf8", Outcome::NotYaml, "not UTF-8"),
    (
        "oidc_duplicate_client_id",
        Outcome::Passes,
        "uniqueness across items",
    ),
    (
        "allows_sha1_oidc",
        Outcome::Passes,
        "a cross-reference: the target's app is an OIDC app",
    ),
    (
        "verifies_id_token_signature_saml",
        Outcome::Passes,
        "a cross-reference: the target's app is a SAML app",
    ),
    (
        "encryption_files_missing",
        Outcome::Passes,
        "the file system: the certificate and key files are missing",
    ),
    (
        "requires_signed_assertions_oidc",
        Outcome::Passes,
        "a cross-reference: the target's app is an OIDC app",
    ),
    (
        "scenario_unknown_app",
        Outcome::Passes,
        "a cross-reference: no such app",
    ),
    (
        "scenario_unknown_user",
        Outcome::Passes,
        "a cross-reference: no such user",
    ),
    (
        "scenario_user_without_directory_users",
        Outcome::Passes,
        "a cross-reference: no users at all",
    ),
    (
        "scenario_without_app_or_target",
        Outcome::Passes,
        "a cross-reference: no app and no target",
    ),
    (
        "second_yaml_document",
        Outcome::NotYaml,
        "a second YAML document",
    ),
    (
        "sp_certificate_not_a_file",
        Outcome::Passes,
        "the file system: the certificate file is missing",
    ),
    (
        "sp_certificate_not_pem",
        Outcome::Passes,
        "the file system: the certificate file is no PEM",
    ),
    (
        "sp_metadata_doctype",
        Outcome::Passes,
        "the metadata file's content: a DOCTYPE",
    ),
    (
        "sp_metadata_https_url",
        Outcome::Passes,
        "a URL scheme fakta cannot fetch (no TLS client)",
    ),
    (
        "sp_metadata_missing",
        Outcome::Passes,
        "the file system: the metadata file is missing",
    ),
    (
        "sp_metadata_no_sp",
        Outcome::Passes,
        "the metadata file's content: an IdP's metadata",
    ),
    (
        "sp_metadata_not_xml",
        Outcome::Passes,
        "the metadata file's content: not XML",
    ),
    (
        "tab_indentation",
        Outcome::NotYaml,
        "not YAML (a tab in indentation)",
    ),
    (
        "target_unknown_app",
        Outcome::Passes,
        "a cross-reference: no such app",
    ),
    ("unclosed_flow_list", Outcome::NotYaml, "not YAML"),
    (
        "yaml_anchor",
        Outcome::Passes,
        "a YAML-level rule: anchors are refused by fakta, resolved by PyYAML",
    ),
    (
        "yaml_tag",
        Outcome::NotYaml,
        "a YAML tag PyYAML cannot construct (fakta refuses tags)",
    ),
    (
        "auth0_restricted_claim",
        Outcome::Passes,
        "a group claim named like one of Auth0's restricted claims: a cross-reference between `idp.flavor` and an app's `groups.attribute`",
    ),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// The file is YAML and the schema accepts it.
    Passes,
    /// PyYAML cannot read the file.
    NotYaml,
}

/// The `.yaml` files of a folder of the repository, sorted.
fn yaml_files(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(Path::new(ROOT).join(dir))
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
}

fn stem(p: &Path) -> String {
    p.file_stem().unwrap().to_string_lossy().into_owned()
}

/// What the validator says of each file: `Ok(errors)`, or `Err(why)` when it is not YAML.
fn validate(files: &[PathBuf]) -> BTreeMap<PathBuf, Result<Vec<String>, String>> {
    common::require_python(SCRIPT, "jsonschema", JSONSCHEMA_VERSION);
    let mut cmd = Command::new(common::python());
    cmd.arg(SCRIPT)
        .arg(Path::new(ROOT).join(SCHEMA_FILE))
        .args(files);
    let ran = common::run_with_deadline(&mut cmd, Duration::from_secs(120));
    let (code, stdout, stderr) = (ran.0, ran.1, ran.2);
    assert_eq!(code, 0, "schema_validate.py failed:\n{stdout}\n{stderr}");
    let out: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("schema_validate.py printed no JSON ({e}):\n{stdout}"));
    let files = out["files"].as_array().expect("files");
    files
        .iter()
        .map(|f| {
            let name = PathBuf::from(f["file"].as_str().expect("file"));
            let verdict = match f.get("yaml_error") {
                Some(e) => Err(e.to_string()),
                None => Ok(f["errors"]
                    .as_array()
                    .expect("errors")
                    .iter()
                    .map(|e| e.as_str().expect("an error").to_owned())
                    .collect()),
            };
            (name, verdict)
        })
        .collect()
}

/// Whether the validator's `error` ("/json/pointer: message", "/" for the whole document) is at
/// `pointer` or, unless `pointer` is the whole document (""), under it.
fn reported_at(error: &str, pointer: &str) -> bool {
    let at = error.split_once(": ").map_or(error, |(at, _)| at);
    match pointer {
        "" => at == "/",
        p => at == p || at.starts_with(&format!("{p}/")),
    }
}

#[test]
fn fakta_schema_prints_the_schema_file() {
    let ran = common::run_with_deadline(
        Command::new(env!("CARGO_BIN_EXE_fakta")).arg("schema"),
        Duration::from_secs(60),
    );
    assert_eq!(ran.0, 0, "{}", ran.2);
    let file = std::fs::read_to_string(Path::new(ROOT).join(SCHEMA_FILE)).unwrap();
    assert_eq!(ran.1, file);
}

/// Every shipped file names the schema on its first line, and the name resolves to it.
#[test]
fn shipped_files_name_the_schema() {
    let shipped = yaml_files("scenarios");
    assert!(shipped.len() >= 6, "{shipped:?}");
    for f in &shipped {
        let text = std::fs::read_to_string(f).unwrap();
        assert_eq!(text.lines().next(), Some(MODELINE), "{}", f.display());
        let named = MODELINE.split_once("$schema=").unwrap().1;
        assert_eq!(
            f.parent().unwrap().join(named).canonicalize().unwrap(),
            Path::new(ROOT).join(SCHEMA_FILE).canonicalize().unwrap(),
            "{}",
            f.display()
        );
    }
}

/// The shipped files and the valid files under tests/ (the interop SPs' files, and
/// tests/valid/every_key.yaml) pass fakta's loader and the schema.
#[test]
fn valid_files_pass_the_schema() {
    let mut files = yaml_files("scenarios");
    files.extend(yaml_files("tests/interop"));
    // Every key and the looser forms fakta accepts: the schema must not be stricter than fakta.
    files.extend(yaml_files("tests/valid"));
    for f in &files {
        if let Err(d) = fakta::config::load_file(f) {
            panic!("{} is not a valid connection file:\n{d}", f.display());
        }
    }
    let verdicts = validate(&files);
    assert_eq!(verdicts.len(), files.len());
    for (f, verdict) in verdicts {
        assert_eq!(verdict, Ok(vec![]), "{}", f.display());
    }
}

/// Every invalid fixture is classified: shape errors fail the schema where the mistake is;
/// the others pass it (or are not YAML), and each says why a schema cannot see its mistake.
#[test]
fn invalid_fixtures_fail_the_schema_when_their_mistake_is_of_shape() {
    let files = yaml_files("tests/invalid");
    let verdicts = validate(&files);
    let mut unclassified = Vec::new();
    for f in &files {
        let name = stem(f);
        let verdict = &verdicts[f];
        if let Some((_, pointer, why)) = SHAPE_ERRORS.iter().find(|(n, _, _)| *n == name) {
            let errors = verdict
                .as_ref()
                .unwrap_or_else(|e| panic!("{name} ({why}) is not YAML to PyYAML: {e}"));
            assert!(
                errors.iter().any(|e| reported_at(e, pointer)),
                "{name}: the schema must refuse {why} at `{pointer}`; the validator says: {errors:#?}"
            );
        } else if let Some((_, outcome, why)) = NOT_SHAPE.iter().find(|(n, _, _)| *n == name) {
            match (outcome, verdict) {
                (Outcome::Passes, Ok(errors)) => assert!(
                    errors.is_empty(),
                    "{name} ({why}) now fails the schema; move it to SHAPE_ERRORS: {errors:#?}"
                ),
                (Outcome::NotYaml, Err(_)) => {}
                _ => panic!("{name} ({why}): expected {outcome:?}, found {verdict:?}"),
            }
        } else {
            unclassified.push(name);
        }
    }
    assert!(
        unclassified.is_empty(),
        "classify these fixtures in SHAPE_ERRORS or NOT_SHAPE: {unclassified:?}"
    );
    for name in SHAPE_ERRORS
        .iter()
        .map(|(n, _, _)| *n)
        .chain(NOT_SHAPE.iter().map(|(n, _, _)| *n))
    {
        assert!(
            files.iter().any(|f| stem(f) == name),
            "{name} is listed but tests/invalid/{name}.yaml does not exist"
        );
    }
}
