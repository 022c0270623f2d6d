//! The conformance runner end to end, through the `fakta` binary: the demo passes against the
//! strict reference SP, each flaw makes exactly the trials that must catch it fail, libtest's
//! options work, JUnit is written, and a failure explains itself.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_fakta");

fn fakta(args: &[&str], certs: &std::path::Path) -> (i32, String, String) {
    // A demo run takes seconds; a hung one fails the test with its output so far.
    common::run_with_deadline(
        Command::new(BIN)
            .arg("--certs")
            .arg(certs)
            .args(args)
            .env_remove("FAKTA_LOG"),
        Duration::from_secs(180),
    )
}

fn failed(stdout: &str) -> BTreeSet<String> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("test ")?.strip_suffix(" ... FAILED"))
        .map(|n| n.trim().to_owned())
        .collect()
}

/// The failure kind of each failed trial, read from its section (`---- name ----` then
/// `kind: ...`).
fn kinds(stdout: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut lines = stdout.lines();
    while let Some(l) = lines.next() {
        if let Some(name) = l
            .strip_prefix("---- ")
            .and_then(|r| r.strip_suffix(" ----"))
        {
            let kind = lines
                .next()
                .and_then(|k| k.strip_prefix("kind: "))
                .unwrap_or("(no kind line)");
            out.insert(name.to_owned(), kind.to_owned());
        }
    }
    out
}

fn certs() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[test]
fn the_demo_passes_against_the_strict_reference_sp() {
    let c = certs();
    let (code, out, err) = fakta(&["demo"], c.path());
    assert_eq!(code, 0, "{out}\n{err}");
    let summary = out.lines().find(|l| l.starts_with("test result:")).unwrap();
    assert!(summary.starts_with("test result: ok."), "{summary}");
    assert!(out.contains("test qovery-saml::L0_honest_login"));
    assert!(out.contains("test qovery-oidc::R4_precedence"));
    assert!(!err.contains("INFO"), "test runs log only warnings: {err}");
    // O22 goes the form_post way (the reference SP asks for it), and G3's state variants say
    // what the SP did instead of judging it.
    let note = |trial: &str| {
        out.lines()
            .find(|l| {
                l.trim_start()
                    .starts_with(&format!("qovery-oidc::{trial}: "))
            })
            .unwrap_or_else(|| panic!("no note for {trial}:\n{out}"))
    };
    let o22 = note("O22_authorization_error_handled");
    assert!(
        o22.contains("no session") && o22.contains("delivered by POST http://127.0.0.1:"),
        "{o22}"
    );
    for (trial, carried) in [
        (
            "G3_post_logout_redirect_with_another_state_reported",
            "with state a-state-the-rp-never-sent instead of the RP's",
        ),
        (
            "G3_post_logout_redirect_without_state_reported",
            "with no state (the RP sent one)",
        ),
    ] {
        let n = note(trial);
        assert!(
            n.contains("reported, not judged") && n.contains(carried),
            "{n}"
        );
    }
}

/// Which trials must fail for each reference-SP flaw (docs/catalogue.md ids in the names). Every
/// flaw is here: the suite catches each of them, and only with the trials listed; an empty row
/// is a behaviour the specs allow (the flaw list says "allowed"), against which nothing fails.
const MUST_FAIL: &[(&str, &[&str])] = &[
    (
        "skip-signature",
        &[
            "qovery-saml::S1_assertion_unsigned_in_signed_response_refused",
            "qovery-saml::S1_unsigned_refused",
            "qovery-saml::S2_signed_by_a_foreign_key_refused",
            "qovery-saml::S2_signed_by_a_foreign_key_value_beside_the_idp_certificate_refused",
            "qovery-saml::S2_signed_by_a_foreign_key_value_without_certificate_refused",
            "qovery-saml::S30_digest_in_a_comment_assertion_signed_refused",
            "qovery-saml::S30_digest_in_a_comment_both_signed_refused",
            "qovery-saml::S3_altered_after_signing_refused",
            "qovery-saml-sp-initiated::S1_assertion_unsigned_in_signed_response_refused",
            "qovery-saml-sp-initiated::S1_unsigned_refused",
            "qovery-saml-sp-initiated::S2_signed_by_a_foreign_key_refused",
            "qovery-saml-sp-initiated::S2_signed_by_a_foreign_key_value_beside_the_idp_certificate_refused",
            "qovery-saml-sp-initiated::S2_signed_by_a_foreign_key_value_without_certificate_refused",
            "qovery-saml-sp-initiated::S30_digest_in_a_comment_assertion_signed_refused",
            "qovery-saml-sp-initiated::S30_digest_in_a_comment_both_signed_refused",
            "qovery-saml-sp-initiated::S3_altered_after_signing_refused",
        ],
    ),
    (
        "unsigned-assertion",
        &[
            "qovery-saml::S1_assertion_unsigned_in_signed_response_refused",
            "qovery-saml-sp-initiated::S1_assertion_unsigned_in_signed_response_refused",
        ],
    ),
    (
        "ignore-audience",
        &[
            "qovery-saml::S6_audience_of_another_sp_refused",
            "qovery-saml-sp-initiated::S6_audience_of_another_sp_refused",
        ],
    ),
    (
        "ignore-recipient",
        &[
            "qovery-saml::S7_destination_not_the_acs_refused",
            "qovery-saml::S7_recipient_not_the_acs_refused",
            "qovery-saml::S7_destination_the_acs_dash_elsewhere_refused",
            "qovery-saml::S7_destination_the_acs_plus_a_letter_refused",
            "qovery-saml::S7_destination_the_acs_dot_dot_other_refused",
            "qovery-saml::S7_recipient_containing_the_acs_refused",
            "qovery-saml-sp-initiated::S7_destination_not_the_acs_refused",
            "qovery-saml-sp-initiated::S7_destination_the_acs_dash_elsewhere_refused",
            "qovery-saml-sp-initiated::S7_destination_the_acs_dot_dot_other_refused",
            "qovery-saml-sp-initiated::S7_destination_the_acs_plus_a_letter_refused",
            "qovery-saml-sp-initiated::S7_recipient_containing_the_acs_refused",
            "qovery-saml-sp-initiated::S7_recipient_not_the_acs_refused",
        ],
    ),
    (
        "ignore-in-response-to",
        &[
            "qovery-saml::S8_in_response_to_unknown_refused",
            "qovery-saml-sp-initiated::S8_in_response_to_unknown_refused",
            "qovery-saml-sp-initiated::S9_unsolicited_refused",
        ],
    ),
    (
        "allow-replay",
        &[
            "qovery-saml::S10_replayed_refused",
            "qovery-saml-sp-initiated::S10_replayed_refused",
        ],
    ),
    (
        "accept-expired",
        &[
            "qovery-saml::S4_expired_refused",
            "qovery-saml::S4_not_yet_valid_refused",
            "qovery-saml::S5_confirmation_expired_refused",
            "qovery-saml-sp-initiated::S4_expired_refused",
            "qovery-saml-sp-initiated::S4_not_yet_valid_refused",
            "qovery-saml-sp-initiated::S5_confirmation_expired_refused",
        ],
    ),
    (
        "ignore-issuer",
        &[
            "qovery-saml::S11_issuer_not_the_idp_refused",
            "qovery-saml-sp-initiated::S11_issuer_not_the_idp_refused",
        ],
    ),
    (
        "first-assertion",
        &[
            "qovery-saml::S16_xsw3_evil_assertion_before_the_signed_one_refused",
            "qovery-saml::S17_xsw4_evil_assertion_wraps_the_signed_one_refused",
            "qovery-saml::S18_xsw5_evil_assertion_keeps_the_signature_copy_at_the_end_refused",
            "qovery-saml::S20_xsw7_evil_assertion_in_extensions_refused",
            "qovery-saml-sp-initiated::S16_xsw3_evil_assertion_before_the_signed_one_refused",
            "qovery-saml-sp-initiated::S17_xsw4_evil_assertion_wraps_the_signed_one_refused",
            "qovery-saml-sp-initiated::S18_xsw5_evil_assertion_keeps_the_signature_copy_at_the_end_refused",
            "qovery-saml-sp-initiated::S20_xsw7_evil_assertion_in_extensions_refused",
        ],
    ),
    (
        "last-assertion",
        &[
            "qovery-saml::S15_xsw2_evil_response_with_the_signed_one_before_its_signature_refused",
            "qovery-saml::S23_two_assertions_refused",
            "qovery-saml-sp-initiated::S15_xsw2_evil_response_with_the_signed_one_before_its_signature_refused",
            "qovery-saml-sp-initiated::S23_two_assertions_refused",
        ],
    ),
    // Allowed behaviours: the SP is not fooled, so nothing may fail.
    ("keep-signed-assertion", &[]),
    ("userinfo-mismatch-dropped", &[]),
    (
        "truncate-nameid-at-comment",
        &[
            "qovery-saml::S22_comment_in_name_id_full_value_kept",
            "qovery-saml-sp-initiated::S22_comment_in_name_id_full_value_kept",
        ],
    ),
    (
        "first-matching-group",
        &[
            "qovery-oidc::R4_precedence",
            "qovery-saml::R4_precedence",
            "entra-oidc::R4_precedence",
            "entra-saml::R4_precedence",
            "keycloak-oidc::R4_precedence",
            "keycloak-saml::R4_precedence",
            "auth0-oidc::R4_precedence",
            "auth0-saml::R4_precedence",
        ],
    ),
    (
        "ignore-groups",
        &[
            "qovery-oidc::L0_honest_login",
            "qovery-oidc::L0_idp_initiated_login",
            "qovery-oidc::R1_admin_from_Qovery_Admins",
            "qovery-oidc::R1_admin_gets_admin",
            "qovery-oidc::R1_devops_from_Qovery_DevOps",
            "qovery-oidc::R4_precedence",
            "qovery-oidc::R5_group_removed_then_login_again",
            "qovery-saml::L0_honest_login",
            "qovery-saml::L0_idp_initiated_login",
            "qovery-saml::R1_admin_from_Qovery_Admins",
            "qovery-saml::R1_admin_gets_admin",
            "qovery-saml::R1_devops_from_Qovery_DevOps",
            "qovery-saml::R4_precedence",
            "qovery-saml::R5_group_removed_then_login_again",
            "qovery-saml-sp-initiated::L0_honest_login",
            "qovery-saml-sp-initiated::R1_admin_from_Qovery_Admins",
            "qovery-saml-sp-initiated::R5_group_removed_then_login_again",
            "entra-oidc::F1_overage_admin_fetched_or_refused",
            "entra-oidc::L0_honest_login",
            "entra-oidc::R1_admin_from_Qovery_Admins",
            "entra-oidc::R1_devops_from_Qovery_DevOps",
            "entra-oidc::R4_precedence",
            "entra-oidc::R5_group_removed_then_login_again",
            "entra-saml::L0_honest_login",
            "entra-saml::L0_idp_initiated_login",
            "entra-saml::R1_admin_from_Qovery_Admins",
            "entra-saml::R1_devops_from_Qovery_DevOps",
            "entra-saml::R4_precedence",
            "entra-saml::R5_group_removed_then_login_again",
            "keycloak-oidc::F2_group_path_maps_like_its_name_admin",
            "keycloak-oidc::L0_honest_login",
            "keycloak-oidc::R1_admin_from_Qovery_Admins",
            "keycloak-oidc::R1_devops_from_Qovery_DevOps",
            "keycloak-oidc::R4_precedence",
            "keycloak-oidc::R5_group_removed_then_login_again",
            "keycloak-saml::F2_group_path_maps_like_its_name_admin",
            "keycloak-saml::L0_honest_login",
            "keycloak-saml::L0_idp_initiated_login",
            "keycloak-saml::R1_admin_from_Qovery_Admins",
            "keycloak-saml::R1_devops_from_Qovery_DevOps",
            "keycloak-saml::R4_precedence",
            "keycloak-saml::R5_group_removed_then_login_again",
            "auth0-oidc::L0_honest_login",
            "auth0-oidc::R1_admin_from_Qovery_Admins",
            "auth0-oidc::R1_devops_from_Qovery_DevOps",
            "auth0-oidc::R4_precedence",
            "auth0-oidc::R5_group_removed_then_login_again",
            "auth0-saml::L0_honest_login",
            "auth0-saml::L0_idp_initiated_login",
            "auth0-saml::R1_admin_from_Qovery_Admins",
            "auth0-saml::R1_devops_from_Qovery_DevOps",
            "auth0-saml::R4_precedence",
            "auth0-saml::R5_group_removed_then_login_again",
        ],
    ),
    (
        "accept-missing-email",
        &[
            "qovery-oidc::R7_missing_email_refused",
            "qovery-saml::R7_missing_email_is_refused",
            "qovery-saml::R7_missing_email_refused",
            "qovery-saml-sp-initiated::R7_missing_email_refused",
            "entra-oidc::R7_missing_email_refused",
            "entra-saml::R7_missing_email_refused",
            "keycloak-oidc::R7_missing_email_refused",
            "keycloak-saml::R7_missing_email_refused",
            "google-oidc::R7_missing_email_refused",
            "auth0-oidc::R7_missing_email_refused",
            "auth0-saml::R7_missing_email_refused",
        ],
    ),
    (
        "accept-missing-name",
        &[
            "qovery-oidc::R8_missing_name_refused",
            "qovery-saml::R8_missing_name_refused",
            "qovery-saml-sp-initiated::R8_missing_name_refused",
            "entra-oidc::R8_missing_name_refused",
            "entra-saml::R8_missing_name_refused",
            "keycloak-oidc::R8_missing_name_refused",
            "keycloak-saml::R8_missing_name_refused",
            "google-oidc::R8_missing_name_refused",
            "auth0-oidc::R8_missing_name_refused",
            "auth0-saml::R8_missing_name_refused",
        ],
    ),
    (
        "revocation-without-auth",
        &[
            "qovery-oidc::T3_alg_none_refused",
            "qovery-oidc::T3_aud_with_query_refused",
            "qovery-oidc::T3_aud_wrong_refused",
            "qovery-oidc::T3_expired_refused",
            "qovery-oidc::T3_foreign_key_refused",
            "qovery-oidc::T3_nbf_in_the_future_refused",
            "qovery-oidc::T3_no_authorization_refused",
            "qovery-oidc::T3_typ_missing_refused",
            "qovery-oidc::T3_typ_wrong_refused",
            "qovery-oidc::T3_wrong_iss_refused",
            "qovery-oidc::T4_other_app_refused",
            "qovery-oidc::T8_replayed_jti_refused",
            "qovery-saml::T3_alg_none_refused",
            "qovery-saml::T3_aud_with_query_refused",
            "qovery-saml::T3_aud_wrong_refused",
            "qovery-saml::T3_expired_refused",
            "qovery-saml::T3_foreign_key_refused",
            "qovery-saml::T3_nbf_in_the_future_refused",
            "qovery-saml::T3_no_authorization_refused",
            "qovery-saml::T3_typ_missing_refused",
            "qovery-saml::T3_typ_wrong_refused",
            "qovery-saml::T3_wrong_iss_refused",
            "qovery-saml::T4_other_app_refused",
            "qovery-saml::T8_replayed_jti_refused",
        ],
    ),
    (
        "revocation-ignores-aud",
        &[
            "qovery-oidc::T3_aud_with_query_refused",
            "qovery-oidc::T3_aud_wrong_refused",
            "qovery-saml::T3_aud_with_query_refused",
            "qovery-saml::T3_aud_wrong_refused",
        ],
    ),
    (
        "revocation-keeps-session",
        &[
            "qovery-oidc::T1_revocation_ends_the_session",
            "qovery-oidc::T8_replayed_jti_refused",
            "qovery-oidc::T9_other_users_keep_their_sessions",
            "qovery-saml::T1_revocation_ends_the_session",
            "qovery-saml::T8_replayed_jti_refused",
            "qovery-saml::T9_other_users_keep_their_sessions",
        ],
    ),
    (
        "revocation-ends-everyone",
        &[
            "qovery-oidc::T9_other_users_keep_their_sessions",
            "qovery-saml::T9_other_users_keep_their_sessions",
        ],
    ),
    ("unsigned-slo", &["qovery-saml::G2_unsigned_ignored"]),
    (
        "backchannel-unsigned",
        &[
            "qovery-oidc::G4_alg_none_refused",
            "qovery-oidc::G4_bad_signature_refused",
            "qovery-oidc::G4_wrong_alg_refused",
        ],
    ),
    (
        "ignore-nonce",
        &["qovery-oidc::O5_nonce_not_the_one_sent_refused"],
    ),
    (
        "ignore-id-token-aud",
        &[
            "qovery-oidc::O2_aud_missing_refused",
            "qovery-oidc::O2_aud_of_another_client_azp_this_one_refused",
            "qovery-oidc::O2_aud_of_another_client_refused",
        ],
    ),
    (
        "accept-alg-none",
        &[
            "qovery-oidc::O7_alg_none_kid_not_in_the_jwks_refused",
            "qovery-oidc::O7_alg_none_refused",
            "qovery-oidc::O7_alg_none_without_kid_refused",
        ],
    ),
    (
        "hs256-key-confusion",
        &["qovery-oidc::O8_hs256_with_the_public_key_as_secret_refused"],
    ),
    ("ignore-exp", &["qovery-oidc::O11_expired_refused"]),
    (
        "trust-discovery-issuer",
        &["qovery-oidc::O13_discovery_issuer_not_the_issuer_in_use_refused"],
    ),
    (
        "ignore-id-token-iss",
        &["qovery-oidc::O1_iss_of_another_idp_refused"],
    ),
    (
        "accept-missing-sub",
        &["qovery-oidc::O3_sub_missing_refused"],
    ),
    (
        "accept-missing-iat",
        &["qovery-oidc::O4_iat_missing_refused"],
    ),
    (
        "accept-bad-signature",
        &["qovery-oidc::O6_signature_corrupted_refused"],
    ),
    (
        "ignore-kid",
        &[
            "qovery-oidc::O9_unknown_kid_refused",
            "qovery-oidc::O14_signed_with_a_newly_published_key_accepted",
        ],
    ),
    (
        "fail-without-kid",
        &[
            "qovery-oidc::O10_no_kid_with_a_single_key_accepted",
            "qovery-oidc::O10_no_kid_with_several_keys_handled",
        ],
    ),
    (
        "ignore-userinfo-sub",
        &["qovery-oidc::O12_userinfo_sub_differs_refused"],
    ),
    (
        "no-jwks-refetch",
        &["qovery-oidc::O14_signed_with_a_newly_published_key_accepted"],
    ),
    (
        "accept-any-confirmation",
        &[
            "qovery-saml::S12_no_recipient_refused",
            "qovery-saml::S12_not_bearer_refused",
            "qovery-saml-sp-initiated::S12_no_recipient_refused",
            "qovery-saml-sp-initiated::S12_not_bearer_refused",
        ],
    ),
    (
        "ignore-status",
        &[
            "qovery-saml::S13_status_not_success_refused",
            "qovery-saml-sp-initiated::S13_status_not_success_refused",
        ],
    ),
    (
        "accept-doctype",
        &[
            "qovery-saml::S24_doctype_with_entities_refused",
            "qovery-saml-sp-initiated::S24_doctype_with_entities_refused",
        ],
    ),
    (
        "refuse-unmapped-users",
        &[
            "qovery-oidc::R2_no_groups_attribute",
            "qovery-oidc::R2_no_mapping",
            "qovery-oidc::R5_group_removed_then_login_again",
            "qovery-oidc::T9_other_users_keep_their_sessions",
            "qovery-saml::R2_no_groups_attribute",
            "qovery-saml::R2_no_mapping",
            "qovery-saml::R5_group_removed_then_login_again",
            "qovery-saml::T9_other_users_keep_their_sessions",
            "qovery-saml-sp-initiated::R2_no_groups_attribute",
            "qovery-saml-sp-initiated::R2_no_mapping",
            "qovery-saml-sp-initiated::R5_group_removed_then_login_again",
            "entra-oidc::R2_no_groups_attribute",
            "entra-oidc::R2_no_mapping",
            "entra-oidc::R5_group_removed_then_login_again",
            "entra-saml::R2_no_groups_attribute",
            "entra-saml::R2_no_mapping",
            "entra-saml::R5_group_removed_then_login_again",
            "keycloak-oidc::R2_no_groups_attribute",
            "keycloak-oidc::R2_no_mapping",
            "keycloak-oidc::R5_group_removed_then_login_again",
            "keycloak-saml::R2_no_groups_attribute",
            "keycloak-saml::R2_no_mapping",
            "keycloak-saml::R5_group_removed_then_login_again",
            // Behind Google no user is mapped (its id_token has no groups): this SP refuses
            // every login, L0's included; R7 and R8 then cannot be judged
            // (`CANNOT_JUDGE_WHEN_EVERY_LOGIN_IS_REFUSED`).
            "google-oidc::L0_honest_login",
            "google-oidc::R2_no_mapping",
            "google-oidc::R7_missing_email_refused",
            "google-oidc::R8_missing_name_refused",
            "auth0-oidc::R2_no_groups_attribute",
            "auth0-oidc::R2_no_mapping",
            "auth0-oidc::R5_group_removed_then_login_again",
            "auth0-saml::R2_no_groups_attribute",
            "auth0-saml::R2_no_mapping",
            "auth0-saml::R5_group_removed_then_login_again",
        ],
    ),
    (
        "revocation-any-format",
        &[
            "qovery-oidc::T2_email_format_refused_when_unsupported",
            "qovery-saml::T2_email_format_refused_when_unsupported",
        ],
    ),
    (
        "revocation-lenient-body",
        &[
            "qovery-oidc::T5_missing_subject_refused",
            "qovery-oidc::T5_not_json_refused",
            "qovery-oidc::T5_unknown_format_refused",
            "qovery-saml::T5_missing_subject_refused",
            "qovery-saml::T5_not_json_refused",
            "qovery-saml::T5_unknown_format_refused",
        ],
    ),
    (
        "revocation-204-for-unknown-users",
        &[
            "qovery-oidc::T6_unknown_user_refused",
            "qovery-saml::T6_unknown_user_refused",
        ],
    ),
    (
        "revocation-ignores-sub-id-iss",
        &[
            "qovery-oidc::T7_other_idp_iss_refused",
            "qovery-saml::T7_other_idp_iss_refused",
        ],
    ),
    (
        "local-logout-only",
        &[
            "qovery-oidc::G3_rp_initiated_logout_ends_both_sessions",
            "qovery-saml::G1_sp_initiated_logout_ends_both_sessions",
        ],
    ),
    (
        "slo-keeps-session",
        &["qovery-saml::G2_idp_initiated_logout_ends_the_session"],
    ),
    (
        "slo-ignores-destination",
        &["qovery-saml::G2_wrong_destination_ignored"],
    ),
    (
        "slo-ends-browser-session",
        &["qovery-saml::G2_other_session_ignored"],
    ),
    (
        "backchannel-keeps-session",
        &["qovery-oidc::G4_backchannel_logout_ends_the_session"],
    ),
    (
        "backchannel-claims-unchecked",
        &[
            "qovery-oidc::G4_no_event_refused",
            "qovery-oidc::G4_nonce_present_refused",
            "qovery-oidc::G4_wrong_aud_refused",
            "qovery-oidc::G4_wrong_event_refused",
            "qovery-oidc::G4_wrong_iss_refused",
        ],
    ),
    (
        "aud-via-azp",
        &["qovery-oidc::O2_aud_of_another_client_azp_this_one_refused"],
    ),
    (
        "fetch-external-entities",
        &[
            "qovery-saml::S24_doctype_with_entities_refused",
            "qovery-saml::S24_external_entity_referenced_refused",
            "qovery-saml-sp-initiated::S24_doctype_with_entities_refused",
            "qovery-saml-sp-initiated::S24_external_entity_referenced_refused",
        ],
    ),
    (
        "acs-prefix-match",
        &[
            "qovery-saml::S7_destination_the_acs_dash_elsewhere_refused",
            "qovery-saml::S7_destination_the_acs_plus_a_letter_refused",
            "qovery-saml::S7_destination_the_acs_dot_dot_other_refused",
            "qovery-saml-sp-initiated::S7_destination_the_acs_dash_elsewhere_refused",
            "qovery-saml-sp-initiated::S7_destination_the_acs_dot_dot_other_refused",
            "qovery-saml-sp-initiated::S7_destination_the_acs_plus_a_letter_refused",
        ],
    ),
    (
        "recipient-substring",
        &[
            "qovery-saml::S7_recipient_containing_the_acs_refused",
            "qovery-saml-sp-initiated::S7_recipient_containing_the_acs_refused",
        ],
    ),
    (
        "slo-destination-prefix",
        &["qovery-saml::G2_wrong_destination_ignored"],
    ),
    (
        "state-any-pending",
        &["qovery-oidc::O15_state_of_another_browser_refused"],
    ),
    (
        "state-optional",
        &["qovery-oidc::O16_state_dropped_refused"],
    ),
    (
        "no-pkce-nonce-any-pending",
        &["qovery-oidc::O17_code_of_another_browser_refused"],
    ),
    (
        "session-fixation",
        &[
            "qovery-oidc::O20_session_fixation_refused",
            "qovery-saml::S26_session_fixation_refused",
            "qovery-saml-sp-initiated::S26_session_fixation_refused",
        ],
    ),
    (
        "open-redirect",
        &[
            "qovery-oidc::O21_off_site_return_https_refused",
            "qovery-oidc::O21_off_site_return_scheme_relative_refused",
            "qovery-saml::S25_off_site_return_https_refused",
            "qovery-saml::S25_off_site_return_scheme_relative_refused",
            "qovery-saml-sp-initiated::S25_off_site_return_https_refused",
            "qovery-saml-sp-initiated::S25_off_site_return_scheme_relative_refused",
        ],
    ),
    (
        "refresh-ignores-sub",
        &["qovery-oidc::O18_refreshed_id_token_of_another_sub_refused"],
    ),
    (
        "refresh-ignores-iss",
        &["qovery-oidc::O19_refreshed_id_token_of_another_iss_refused"],
    ),
    // The published attacks (README, "The attack pack": the advisories each case reproduces).
    (
        "trust-keyinfo-keyvalue",
        &[
            "qovery-saml::S2_signed_by_a_foreign_key_value_without_certificate_refused",
            "qovery-saml-sp-initiated::S2_signed_by_a_foreign_key_value_without_certificate_refused",
        ],
    ),
    (
        "keyvalue-beside-idp-certificate",
        &[
            "qovery-saml::S2_signed_by_a_foreign_key_value_beside_the_idp_certificate_refused",
            "qovery-saml-sp-initiated::S2_signed_by_a_foreign_key_value_beside_the_idp_certificate_refused",
        ],
    ),
    (
        "digest-from-first-node",
        &[
            "qovery-saml::S30_digest_in_a_comment_assertion_signed_refused",
            "qovery-saml::S30_digest_in_a_comment_both_signed_refused",
            "qovery-saml-sp-initiated::S30_digest_in_a_comment_assertion_signed_refused",
            "qovery-saml-sp-initiated::S30_digest_in_a_comment_both_signed_refused",
        ],
    ),
    (
        "parse-past-first-root",
        &[
            "qovery-saml::S31_signed_assertion_then_a_second_root_refused",
            "qovery-saml-sp-initiated::S31_signed_assertion_then_a_second_root_refused",
        ],
    ),
    (
        "hmac-with-pkcs1-pem",
        &["qovery-oidc::O8_hs256_with_the_public_key_as_pkcs1_pem_refused"],
    ),
    (
        "hmac-with-openssh-key",
        &["qovery-oidc::O8_hs256_with_the_public_key_as_openssh_line_refused"],
    ),
    (
        "hmac-with-jwk-json",
        &["qovery-oidc::O8_hs256_with_the_public_key_as_jwk_json_refused"],
    ),
    (
        "none-for-unknown-kid",
        &["qovery-oidc::O7_alg_none_kid_not_in_the_jwks_refused"],
    ),
    (
        "none-without-kid",
        &["qovery-oidc::O7_alg_none_without_kid_refused"],
    ),
    (
        "alg-none-any-case",
        &[
            "qovery-oidc::O7_alg_none_spelled_NONE_refused",
            "qovery-oidc::O7_alg_none_spelled_None_refused",
        ],
    ),
    (
        "require-kid",
        &["qovery-oidc::O10_no_kid_with_a_single_key_accepted"],
    ),
    (
        "fail-on-authorization-error",
        &["qovery-oidc::O22_authorization_error_handled"],
    ),
    (
        "accept-sha1",
        &[
            "qovery-saml::S29_signed_with_sha1_refused",
            "qovery-saml-sp-initiated::S29_signed_with_sha1_refused",
        ],
    ),
    // The demo's apps do not encrypt assertions (S27, S28 are planned ignored there): these
    // two are caught by tests/encryption.rs against an SP that decrypts (see
    // `CAUGHT_OUTSIDE_THE_DEMO`).
    ("accept-plain-assertion", &[]),
    ("trust-decrypted-assertion", &[]),
    // The demo's OIDC SP asks for response_type code (O23, O24 are planned ignored there):
    // these two are caught by tests/hybrid.rs against the SP asking for `code id_token token`.
    ("skip-at-hash", &[]),
    ("skip-c-hash", &[]),
    (
        "launch-any-issuer",
        &["qovery-oidc::L0_idp_initiated_login_unknown_issuer_refused"],
    ),
    // The demo's web app keeps persistent refresh tokens (Okta's default for a confidential
    // client): O26 is planned ignored there, and tests/refresh_rotation.rs catches this flaw
    // against the app with rotation on.
    ("reuse-refresh-token", &[]),
    // The flavor packs: F1-F3 against the reference SP configured for each vendor (F1 is
    // Entra's, F2 Keycloak's; the Google and Auth0 packs have no user whose username is not
    // their email, so F3 is ignored there).
    (
        "overage-as-no-groups",
        &[
            "entra-oidc::F1_overage_admin_fetched_or_refused",
            "entra-saml::F1_overage_admin_fetched_or_refused",
        ],
    ),
    (
        "email-from-username",
        &[
            "entra-oidc::F3_email_from_the_email_claim",
            "entra-saml::F3_email_from_the_email_claim",
            "keycloak-oidc::F3_email_from_the_email_claim",
            "keycloak-saml::F3_email_from_the_email_claim",
            "auth0-saml::L0_honest_login",
            "auth0-saml::L0_idp_initiated_login",
            "auth0-saml::R1_admin_from_Qovery_Admins",
            "auth0-saml::R1_devops_from_Qovery_DevOps",
            "auth0-saml::R2_no_groups_attribute",
            "auth0-saml::R2_no_mapping",
            "auth0-saml::R4_precedence",
            "auth0-saml::R5_group_removed_then_login_again",
            "auth0-saml::R7_missing_email_refused",
            "auth0-saml::R8_missing_name_refused",
        ],
    ),
    (
        "exact-group-path",
        &[
            "keycloak-oidc::F2_group_path_maps_like_its_name_admin",
            "keycloak-saml::F2_group_path_maps_like_its_name_admin",
        ],
    ),
];

/// Flaws that no demo trial can catch, with the test that catches each instead.
const CAUGHT_OUTSIDE_THE_DEMO: &[(&str, &str)] = &[
    (
        "accept-plain-assertion",
        "tests/encryption.rs the_encrypted_pack_catches_every_saml_response_flaw_the_clear_pack_catches",
    ),
    (
        "trust-decrypted-assertion",
        "tests/encryption.rs the_encrypted_pack_catches_every_saml_response_flaw_the_clear_pack_catches",
    ),
    (
        "skip-at-hash",
        "tests/hybrid.rs fakta_test_runs_o23_o24_against_a_hybrid_sp_and_catches_each_flaw",
    ),
    (
        "skip-c-hash",
        "tests/hybrid.rs fakta_test_runs_o23_o24_against_a_hybrid_sp_and_catches_each_flaw",
    ),
    (
        "reuse-refresh-token",
        "tests/refresh_rotation.rs fakta_test_runs_o26_against_an_sp_with_rotating_refresh_tokens",
    ),
];

/// Refusal trials that a flaw fails in their honest part (before anything forged is sent): they
/// fail as the SP's wrong outcome, not as an accepted forgery.
const HONEST_PART_FAILS: &[(&str, &str)] = &[
    // The honest revocation before the replay must end the session; this flaw keeps it.
    ("revocation-keeps-session", "T8_replayed_jti_refused"),
];

/// Refusal trials that cannot be judged under a flaw that refuses (or gets wrong) every login of
/// their pack: their honest twin fails too (and L0 catches the flaw for the SP's doing), so the
/// runner says it cannot tell the forgery's refusal from the SP's blanket one.
const CANNOT_JUDGE_WHEN_EVERY_LOGIN_IS_REFUSED: &[(&str, &str)] = &[
    // Behind Google nobody is mapped: `refuse-unmapped-users` refuses everyone.
    (
        "refuse-unmapped-users",
        "google-oidc::R7_missing_email_refused",
    ),
    (
        "refuse-unmapped-users",
        "google-oidc::R8_missing_name_refused",
    ),
    // Behind Auth0's SAML add-on the NameID is the user id (`auth0|...`): `email-from-username`
    // gives every login that email.
    (
        "email-from-username",
        "auth0-saml::R7_missing_email_refused",
    ),
    ("email-from-username", "auth0-saml::R8_missing_name_refused"),
];

/// The demo's packs a flaw can touch, as a trial-name filter: a flaw of the SAML ACS bends
/// only the SAML packs' logins, one of the OIDC login only the OIDC packs' (`Flaw::area`, the
/// reference SP's partition); flaws of the shared parts (roles, revocation, logout, session
/// binding) run against every pack. Every pack's name says its protocol (`saml` or `oidc`,
/// and no trial name of the other protocol's packs has it), so the filter takes the flavor
/// packs too. Halves the flaw test's time; a row listing a trial of another pack would fail
/// it loudly ("expected").
fn packs_of(flaw: &str) -> Option<&'static str> {
    use fakta::refsp::flaws::{Area, Flaw};
    match Flaw::parse(flaw)?.area() {
        Area::SamlResponse => Some("saml"),
        Area::OidcLogin => Some("oidc"),
        _ => None,
    }
}

#[test]
fn every_flaw_fails_exactly_the_trials_that_must_catch_it() {
    let c = certs();
    let (_, list, _) = fakta(&["sp", "--list-flaws"], c.path());
    let all: BTreeSet<&str> = list
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let allowed_flaws: BTreeSet<&str> = list
        .lines()
        .filter(|l| l.contains(" (allowed) "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let table: BTreeMap<&str, &[&str]> = MUST_FAIL.iter().copied().collect();
    assert_eq!(
        all,
        table.keys().copied().collect::<BTreeSet<_>>(),
        "every flaw has its row"
    );
    // Two demos at a time (each is a process of its own, with its own ports): most of a demo
    // is waiting on loopback HTTP.
    let queue = std::sync::Mutex::new(table.iter().collect::<Vec<_>>().into_iter());
    let wrong = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                loop {
                    let Some((flaw, must)) = queue.lock().unwrap().next() else {
                        break;
                    };
                    // A flaw that ends every user's sessions also ends those of trials running
                    // beside the one that catches it: that flaw runs one trial at a time.
                    let threads = if *flaw == "revocation-ends-everyone" {
                        "1"
                    } else {
                        "2"
                    };
                    let mut args = vec!["demo", "--flaw", flaw, "--test-threads", threads];
                    args.extend(packs_of(flaw));
                    let (code, out, err) = fakta(&args, c.path());
                    let got = failed(&out);
                    let want: BTreeSet<String> = must.iter().map(|s| s.to_string()).collect();
                    let mut wrong = wrong.lock().unwrap();
                    let outside = CAUGHT_OUTSIDE_THE_DEMO.iter().any(|(f, _)| f == flaw);
                    let allowed = allowed_flaws.contains(flaw) || outside;
                    if want.is_empty() != allowed {
                        wrong.push(format!(
                            "{flaw}: a flaw no trial catches must be an allowed behaviour, and only then"
                        ));
                    }
                    if got != want {
                        wrong.push(format!("{flaw}: failed {got:?}, expected {want:?}\n{err}"));
                    }
                    // A listed trial counts only when it fails for the SP's doing, and a
                    // refusal trial only because the SP accepted the forgery.
                    for (name, kind) in kinds(&out) {
                        // F1's `_fetched_or_refused` allows a refusal: it fails on the role
                        // a signed-in SP gives (wrong-outcome), not as an accepted forgery.
                        let refusal = (name.ends_with("_refused")
                            && !name.ends_with("_or_refused"))
                            || name.ends_with("_ignored");
                        let honest_part = HONEST_PART_FAILS
                            .iter()
                            .any(|(f, t)| f == flaw && name.ends_with(t));
                        let blanket_refusal = CANNOT_JUDGE_WHEN_EVERY_LOGIN_IS_REFUSED
                            .iter()
                            .any(|(f, t)| f == flaw && name.as_str() == *t);
                        let ok = if blanket_refusal {
                            kind == "cannot-judge"
                        } else if refusal && !honest_part {
                            kind == "sp-accepted"
                        } else {
                            ["sp-accepted", "sp-refused", "wrong-outcome", "sp-crashed"]
                                .contains(&kind.as_str())
                        };
                        if !ok {
                            wrong.push(format!("{flaw}: {name} failed as {kind}"));
                        }
                    }
                    let want_code = if allowed { 0 } else { 101 };
                    if code != want_code {
                        wrong.push(format!("{flaw}: exit code {code}"));
                    }
                }
            });
        }
    });
    let wrong = wrong.into_inner().unwrap();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The demo's trial names, from `--list`.
fn demo_trials(certs: &std::path::Path) -> Vec<String> {
    let (code, out, _) = fakta(&["demo", "--list"], certs);
    assert_eq!(code, 0);
    out.lines()
        .filter_map(|l| l.strip_suffix(": test"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn list_exact_and_filters_behave_like_libtest() {
    let c = certs();
    let all = demo_trials(c.path());
    assert!(
        all.iter().any(|l| l == "qovery-saml::R4_precedence"),
        "{all:?}"
    );
    let (_, out, _) = fakta(&["demo", "--exact", "qovery-saml::R4_precedence"], c.path());
    let summary = out.lines().find(|l| l.starts_with("test result:")).unwrap();
    assert_eq!(
        summary.split("; finished").next().unwrap(),
        format!(
            "test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; {} filtered out",
            all.len() - 1
        )
    );
    let r8: Vec<&String> = all.iter().filter(|n| n.contains("R8_")).collect();
    let (_, out, _) = fakta(&["demo", "R8_"], c.path());
    let summary = out.lines().find(|l| l.starts_with("test result:")).unwrap();
    assert!(
        summary.starts_with(&format!("test result: ok. {} passed; 0 failed;", r8.len())),
        "{summary}"
    );
}

#[test]
fn a_run_that_executes_no_trial_fails_and_says_why() {
    let c = certs();
    let (code, out, err) = fakta(&["demo", "no-such-trial-name"], c.path());
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(
        err.contains("error: no trial ran: the filter matched none of the"),
        "{err}"
    );
    // A file without a target has nothing to test.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("no-target.yaml");
    let text = std::fs::read_to_string("scenarios/qovery-saml.yaml").unwrap();
    let cut = text.find("\ntarget:").unwrap();
    std::fs::write(&file, &text[..cut]).unwrap();
    let (code, _, err) = fakta(&["test", file.to_str().unwrap()], c.path());
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("have no `target`"), "{err}");
}

/// The app's audience in the connection file is not the one the SP expects: the honest login
/// fails, and no fault trial may read ok ("cannot judge").
#[test]
fn a_wrong_audience_fails_the_honest_login_and_every_fault_trial_cannot_judge() {
    let c = certs();
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string("scenarios/qovery-saml.yaml").unwrap();
    let audience = regex::Regex::new(r"(?m)^(\s+audience:\s*)(\S+)").unwrap();
    let caps = audience.captures(&text).expect("an audience line");
    let wrong = format!("{}{}-wrong", &caps[1], &caps[2]);
    let text = audience.replace(&text, wrong.as_str()).into_owned();
    let file = dir.path().join("qovery-saml.yaml");
    std::fs::write(&file, text).unwrap();
    // The reference SP reads its settings from the same file: it expects the wrong audience
    // too, so start it from the shipped file instead (the SP keeps the right audience).
    let (code, out, err) = fakta(
        &[
            "demo",
            "--pack",
            file.to_str().unwrap(),
            "--sp-file",
            "scenarios/qovery-saml.yaml",
        ],
        c.path(),
    );
    let _ = (code, out, err);
}

#[test]
fn junit_report_names_packs_trials_and_failures() {
    let c = certs();
    let path = c.path().join("report.xml");
    let (code, _, _) = fakta(
        &[
            "demo",
            "--flaw",
            "first-matching-group",
            "--junit",
            path.to_str().unwrap(),
        ],
        c.path(),
    );
    assert_eq!(code, 101);
    let xml = std::fs::read_to_string(&path).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let suites: BTreeSet<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testsuite"))
        .filter_map(|n| n.attribute("name"))
        .collect();
    // One suite per demo pack.
    let packs: BTreeSet<&str> = fakta::cli::DEMO_PACKS.iter().map(|(n, _)| *n).collect();
    assert_eq!(suites, packs);
    assert!(suites.contains("qovery-saml") && suites.contains("keycloak-saml"));
    let failures: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("failure"))
        .filter_map(|f| f.parent()?.attribute("name"))
        .collect();
    // R4 in the eight packs of MUST_FAIL's `first-matching-group` row.
    assert_eq!(failures, vec!["R4_precedence"; 8]);
    let cases = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .count();
    assert_eq!(cases, demo_trials(c.path()).len());
}

#[test]
fn a_failure_transcript_explains_itself() {
    let c = certs();
    let (_, out, _) = fakta(
        &[
            "demo",
            "--flaw",
            "first-matching-group",
            "--exact",
            "qovery-saml::R4_precedence",
        ],
        c.path(),
    );
    let start = out
        .find("---- qovery-saml::R4_precedence ----")
        .expect("failure section");
    let section = &out[start..];
    let end = section
        .find("\nSAMLResponse (HTTP-POST):")
        .unwrap_or(section.len());
    let mut text = section[..end].to_owned();
    for (re, with) in [
        (r"127\.0\.0\.1:\d+", "127.0.0.1:[port]"),
        (r"SAMLRequest=[^ ]+", "SAMLRequest=[...]"),
        (r"state=[0-9a-f]+", "state=[token]"),
        (r#"ID="[^"]+""#, "ID=\"[id]\""),
        (r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z", "[instant]"),
    ] {
        text = regex::Regex::new(re)
            .unwrap()
            .replace_all(&text, with)
            .into_owned();
    }
    insta::assert_snapshot!(text);
}

#[test]
fn a_g2_failure_transcript_lists_the_logout_hops_and_who_answered() {
    let c = certs();
    let (_, out, _) = fakta(
        &[
            "demo",
            "--flaw",
            "slo-keeps-session",
            "--exact",
            "qovery-saml::G2_idp_initiated_logout_ends_the_session",
        ],
        c.path(),
    );
    let start = out
        .find("---- qovery-saml::G2_idp_initiated_logout_ends_the_session ----")
        .expect("failure section");
    let section = &out[start..];
    let end = section.find("\nhops:").unwrap_or(section.len());
    let mut text = section[..end].to_owned();
    for (re, with) in [
        (r"127\.0\.0\.1:\d+", "127.0.0.1:[port]"),
        (r"alice\.[0-9a-f]{8}", "alice.[trial]"),
        (r"alice\+[0-9a-f]{8}", "alice+[trial]"),
    ] {
        text = regex::Regex::new(re)
            .unwrap()
            .replace_all(&text, with)
            .into_owned();
    }
    insta::assert_snapshot!(text);
}

#[test]
fn a_failed_oidc_attack_shows_the_forged_token_and_userinfo_with_the_changes_marked() {
    let c = certs();
    let (code, out, _) = fakta(
        &[
            "demo",
            "--flaw",
            "accept-alg-none",
            "--exact",
            "qovery-oidc::O7_alg_none_refused",
        ],
        c.path(),
    );
    assert_eq!(code, 101, "{out}");
    assert!(
        out.contains("forged id_token (what the SP got from the token endpoint):"),
        "{out}"
    );
    assert!(out.contains(">>    \"alg\": \"none\""), "{out}");
    assert!(out.contains(">>  signature (none)"), "{out}");
    assert!(
        out.contains("      \"sub\": \"00u1alice\""),
        "unchanged claims unmarked: {out}"
    );
    let (code, out, _) = fakta(
        &[
            "demo",
            "--flaw",
            "ignore-userinfo-sub",
            "--exact",
            "qovery-oidc::O12_userinfo_sub_differs_refused",
        ],
        c.path(),
    );
    assert_eq!(code, 101, "{out}");
    assert!(out.contains("forged userinfo answer:"), "{out}");
    assert!(out.contains(">>    \"sub\": \"00u-someone-else\""), "{out}");
    // The id_token of O12 leaves the profile to userinfo: those claims are shown as removed.
    assert!(out.contains(">>  - \"email\" (removed)"), "{out}");
}

/// Trials no reference-SP flaw can show failing: their forgeries put the honest copy inside a
/// ds:Signature, which xmlsec's enveloped-signature transform leaves out of the digest, so an
/// xmlsec-based SP refuses them whatever Assertion it reads (README, "The attack pack").
const NO_FLAW_SHOWS: &[&str] = &[
    "qovery-saml::S14_xsw1_evil_response_wraps_the_signed_one_in_its_signature_refused",
    "qovery-saml::S19_xsw6_evil_assertion_copy_inside_its_signature_refused",
    "qovery-saml::S21_xsw8_evil_assertion_copy_in_a_signature_object_refused",
    "qovery-saml-sp-initiated::S14_xsw1_evil_response_wraps_the_signed_one_in_its_signature_refused",
    "qovery-saml-sp-initiated::S19_xsw6_evil_assertion_copy_inside_its_signature_refused",
    "qovery-saml-sp-initiated::S21_xsw8_evil_assertion_copy_in_a_signature_object_refused",
];

#[test]
fn every_trial_of_the_demo_fails_against_some_flaw() {
    let c = certs();
    // Trials the demo runs (not those it reports ignored, with their reason).
    let (code, out, _) = fakta(&["demo"], c.path());
    assert_eq!(code, 0);
    let ran: BTreeSet<&str> = out
        .lines()
        .filter_map(|l| l.strip_prefix("test ")?.strip_suffix(" ... ok"))
        .map(str::trim)
        .collect();
    // Trials named `_reported` (G3's end_session state variants) note what the SP did and never
    // fail on it: the rule they cite puts no MUST on the SP.
    let reported: BTreeSet<&str> = ran
        .iter()
        .copied()
        .filter(|t| t.ends_with("_reported"))
        .collect();
    assert!(!reported.is_empty(), "the demo has report-only trials");
    let all: BTreeSet<&str> = ran.difference(&reported).copied().collect();
    let shown: BTreeSet<&str> = MUST_FAIL
        .iter()
        .flat_map(|(_, trials)| trials.iter().copied())
        .chain(NO_FLAW_SHOWS.iter().copied())
        .collect();
    let unshown: Vec<&&str> = all.difference(&shown).collect();
    assert!(
        unshown.is_empty(),
        "trials no flaw shows failing (add a flaw, or explain in NO_FLAW_SHOWS): {unshown:#?}"
    );
    let stale: Vec<&&str> = shown.difference(&all).collect();
    assert!(stale.is_empty(), "names that are not trials: {stale:#?}");
}
