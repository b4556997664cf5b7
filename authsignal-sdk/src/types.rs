//! Wire types of the Authsignal Server API: request and response bodies, query parameters and enums.
//!
//! Every struct serialises to and from the camelCase JSON the service speaks, so the same types
//! serve a client (this crate) and a server (a local emulator). Optional fields are omitted from
//! requests when `None` and default to `None` when a response leaves them out. Enums keep an
//! `Unknown` variant so a value added by a newer service version never breaks decoding.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// A JSON object of custom attributes (string, number or boolean values, sometimes nested).
pub type CustomData = Map<String, Value>;

/// Declares a string enum with exact wire spellings and an `Unknown(String)` fallback that
/// round-trips any value this version does not know.
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident => $wire:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A value this version of the SDK does not know (kept verbatim so it round-trips).
            Unknown(String),
        }

        impl $name {
            /// Every variant this version knows, in declaration order.
            pub const KNOWN: &'static [$name] = &[ $( $name::$variant, )+ ];

            /// The exact string used on the wire.
            ///
            #[doc = concat!("```\n# use authsignal_sdk::", stringify!($name), ";\nlet value = ", stringify!($name), "::KNOWN[0].clone();\nassert_eq!(value.to_string(), value.as_str());\n```")]
            pub fn as_str(&self) -> &str {
                match self {
                    $( $name::$variant => $wire, )+
                    $name::Unknown(other) => other.as_str(),
                }
            }

            /// Parses a wire string; unknown strings become `Unknown` (never fails).
            ///
            #[doc = concat!("```\n# use authsignal_sdk::", stringify!($name), ";\nlet known = ", stringify!($name), "::KNOWN[0].clone();\nassert_eq!(", stringify!($name), "::from_wire(known.as_str()), known);\nassert_eq!(", stringify!($name), "::from_wire(\"SOMETHING_NEW\").as_str(), \"SOMETHING_NEW\");\n```")]
            pub fn from_wire(value: &str) -> Self {
                match value {
                    $( $wire => $name::$variant, )+
                    other => $name::Unknown(other.to_owned()),
                }
            }

            /// Whether this is a value the SDK does not know.
            ///
            #[doc = concat!("```\n# use authsignal_sdk::", stringify!($name), ";\nassert!(", stringify!($name), "::from_wire(\"SOMETHING_NEW\").is_unknown());\nassert!(!", stringify!($name), "::KNOWN[0].is_unknown());\n```")]
            pub fn is_unknown(&self) -> bool {
                matches!(self, $name::Unknown(_))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::convert::Infallible;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Ok($name::from_wire(s))
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                $name::from_wire(value)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                // Borrowing fails on escaped strings, so take an owned `String` only when needed.
                let value = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
                Ok($name::from_wire(&value))
            }
        }
    };
}

wire_enum! {
    /// The state of a tracked action (§3 of the API reference).
    pub enum UserActionState {
        /// The action may proceed.
        Allow => "ALLOW",
        /// The action must be denied.
        Block => "BLOCK",
        /// The user must complete a challenge (redirect to `url` or use `token` with a client SDK).
        ChallengeRequired => "CHALLENGE_REQUIRED",
        /// The user completed the challenge.
        ChallengeSucceeded => "CHALLENGE_SUCCEEDED",
        /// The user failed the challenge.
        ChallengeFailed => "CHALLENGE_FAILED",
        /// The action waits for a manual review.
        ReviewRequired => "REVIEW_REQUIRED",
        /// A reviewer approved the action.
        ReviewSucceeded => "REVIEW_SUCCEEDED",
        /// A reviewer rejected the action.
        ReviewFailed => "REVIEW_FAILED",
    }
}

wire_enum! {
    /// An authentication method (§3 of the API reference: the union across the official SDKs).
    pub enum VerificationMethod {
        /// One-time code by SMS.
        Sms => "SMS",
        /// Magic link by email.
        EmailMagicLink => "EMAIL_MAGIC_LINK",
        /// One-time code by email.
        EmailOtp => "EMAIL_OTP",
        /// Authenticator app (TOTP).
        AuthenticatorApp => "AUTHENTICATOR_APP",
        /// Passkey (WebAuthn, discoverable).
        Passkey => "PASSKEY",
        /// Security key (WebAuthn, roaming).
        SecurityKey => "SECURITY_KEY",
        /// Push notification to a mobile app.
        Push => "PUSH",
        /// Identity verification with Veriff.
        Veriff => "VERIFF",
        /// Face biometrics with iProov.
        Iproov => "IPROOV",
        /// Identity verification with IDVerse.
        Idverse => "IDVERSE",
        /// Palm biometrics.
        PalmBiometricsRr => "PALM_BIOMETRICS_RR",
        /// A single-use recovery code.
        RecoveryCode => "RECOVERY_CODE",
        /// A remembered device.
        Device => "DEVICE",
        /// One-time code by WhatsApp.
        Whatsapp => "WHATSAPP",
    }
}

wire_enum! {
    /// The channel used to deliver an SMS-style one-time code.
    pub enum SmsChannel {
        /// The tenant's default channel.
        Default => "DEFAULT",
        /// WhatsApp.
        Whatsapp => "WHATSAPP",
        /// Plain SMS (used by the browser SDK).
        Sms => "SMS",
    }
}

wire_enum! {
    /// Why a `/verify` call failed.
    pub enum VerificationFailureReason {
        /// The code was wrong or has expired.
        CodeInvalidOrExpired => "CODE_INVALID_OR_EXPIRED",
        /// Too many wrong codes were tried.
        MaxAttemptsExceeded => "MAX_ATTEMPTS_EXCEEDED",
    }
}

// ---------------------------------------------------------------------------------------------
// Errors

/// The JSON body of an error response: `{"error", "errorCode", "errorDescription"}`.
///
/// The service sends the code under both `error` (read by the .NET, Node, Java and Ruby SDKs) and
/// `errorCode` (read by Go and Python); either may be missing, so both are optional.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiErrorBody {
    /// The error code (older key), e.g. `unauthorized`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The error code (newer key), e.g. `unauthorized`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// A human-readable description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
}

impl ApiErrorBody {
    /// A body carrying `code` under both `error` and `errorCode` (what the real service sends).
    ///
    /// ```
    /// # use authsignal_sdk::ApiErrorBody;
    /// let body = ApiErrorBody::new("unauthorized", "The request is unauthorized.");
    /// assert_eq!(body.error.as_deref(), Some("unauthorized"));
    /// assert_eq!(body.error_code.as_deref(), Some("unauthorized"));
    /// ```
    pub fn new(code: impl Into<String>, description: impl Into<String>) -> Self {
        let code = code.into();
        Self {
            error: Some(code.clone()),
            error_code: Some(code),
            error_description: Some(description.into()),
        }
    }

    /// The error code, from `errorCode` or else `error`.
    ///
    /// ```
    /// # use authsignal_sdk::ApiErrorBody;
    /// let body: ApiErrorBody = serde_json::from_str(r#"{"error":"invalid_request"}"#).unwrap();
    /// assert_eq!(body.code(), Some("invalid_request"));
    /// ```
    pub fn code(&self) -> Option<&str> {
        self.error_code.as_deref().or(self.error.as_deref())
    }

    /// The description, if any.
    ///
    /// ```
    /// # use authsignal_sdk::ApiErrorBody;
    /// assert_eq!(ApiErrorBody::new("c", "why").description(), Some("why"));
    /// ```
    pub fn description(&self) -> Option<&str> {
        self.error_description.as_deref()
    }
}

/// The `{"success": true}` body some calls (e.g. delete user) answer with.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SuccessResponse {
    /// Whether the operation succeeded.
    #[serde(default)]
    pub success: bool,
}

// ---------------------------------------------------------------------------------------------
// Actions

/// Attributes sent with [`track`](crate::Client::track) (the request body of
/// `POST /users/{userId}/actions/{action}`). Every field is optional; `{}` is valid.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrackAttributes {
    /// Where the pre-built UI sends the user back to (with `token` appended to the query).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_url: Option<String>,
    /// Keep the user on the settings screen after the challenge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_to_settings: Option<bool>,
    /// The user's email (prefills enrollment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The user's phone number in E.164 (prefills enrollment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    /// The user's username.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The client's IP address (used by rules).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
    /// The client's user agent (used by rules).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// The device identifier (the browser SDK's anonymous id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    /// Space-separated scopes, e.g. `add:authenticators`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Custom data for rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom: Option<CustomData>,
    /// A caller-chosen idempotency key for the action (also makes the call retryable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// An existing challenge to attach to the action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenge_id: Option<String>,
    /// The locale of the pre-built UI, e.g. `en`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// A custom domain for the pre-built UI URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_domain: Option<String>,
}

/// The response of [`track`](crate::Client::track).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrackResponse {
    /// The idempotency key identifying this action instance.
    pub idempotency_key: String,
    /// The outcome of the rules.
    pub state: UserActionState,
    /// The pre-built UI URL to redirect the user to (challenge or enrollment).
    #[serde(default)]
    pub url: String,
    /// A token for the client SDKs (and for `/validate`).
    #[serde(default)]
    pub token: String,
    /// Whether the user has at least one authenticator.
    #[serde(default)]
    pub is_enrolled: bool,
    /// Methods the user has enrolled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enrolled_verification_methods: Option<Vec<VerificationMethod>>,
    /// Methods the user may use or enroll.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_verification_methods: Option<Vec<VerificationMethod>>,
    /// The user's default method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_verification_method: Option<VerificationMethod>,
    /// The rules that fired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_ids: Option<Vec<String>>,
}

/// The request of [`validate_challenge`](crate::Client::validate_challenge) (`POST /validate`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidateChallengeRequest {
    /// The token from the redirect (`?token=`) or from a client SDK.
    pub token: String,
    /// When set, the service checks the token belongs to this user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// When set, the service checks the token belongs to this action code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
}

/// The response of [`validate_challenge`](crate::Client::validate_challenge).
///
/// The service sends the action code under both `action` and `actionCode`; read it with
/// [`action_code()`](ValidateChallengeResponse::action_code).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidateChallengeResponse {
    /// True only when the challenge completed successfully.
    #[serde(default)]
    pub is_valid: bool,
    /// The action's state (`CHALLENGE_SUCCEEDED` when valid).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<UserActionState>,
    /// When the state last changed (ISO-8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_updated_at: Option<String>,
    /// The user the token was issued for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// The action code (newer key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// The action code (older key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_code: Option<String>,
    /// The idempotency key of the action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// The method the user completed the challenge with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification_method: Option<VerificationMethod>,
    /// The Veriff session, for identity verification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub veriff_session_id: Option<String>,
    /// An error description, when the token could not be validated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl ValidateChallengeResponse {
    /// The action code, from `action` or else `actionCode`.
    ///
    /// ```
    /// # use authsignal_sdk::ValidateChallengeResponse;
    /// let response: ValidateChallengeResponse =
    ///     serde_json::from_str(r#"{"isValid":true,"actionCode":"signIn"}"#).unwrap();
    /// assert_eq!(response.action_code(), Some("signIn"));
    /// ```
    pub fn action_code(&self) -> Option<&str> {
        self.action.as_deref().or(self.action_code.as_deref())
    }
}

/// A rule that fired on an action.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionRule {
    /// The rule's id.
    pub rule_id: String,
    /// The rule's name.
    #[serde(default)]
    pub name: String,
    /// The rule's description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Extra data attached to the rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
}

/// The response of [`get_action`](crate::Client::get_action).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetActionResponse {
    /// The action's state.
    pub state: UserActionState,
    /// When the state last changed (ISO-8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_updated_at: Option<String>,
    /// When the action was tracked (ISO-8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// The method the challenge was completed with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification_method: Option<VerificationMethod>,
    /// The rules that fired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules: Option<Vec<ActionRule>>,
    /// The ids of the rules that fired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_ids: Option<Vec<String>>,
    /// The rule that decided the outcome.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_rule_id: Option<String>,
    /// Rule output data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
}

/// The request of [`update_action`](crate::Client::update_action): the new state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateActionRequest {
    /// The new state, e.g. `REVIEW_SUCCEEDED`.
    pub state: UserActionState,
}

/// The response of [`update_action`](crate::Client::update_action): the state now stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateActionResponse {
    /// The state now stored.
    pub state: UserActionState,
}

/// Filters of [`query_user_actions`](crate::Client::query_user_actions) (sent as query
/// parameters `fromDate`, `codes` (comma-joined) and `state`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryUserActionsRequest {
    /// Only actions from this time on (ISO-8601; the service's default and limit is 30 days ago).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_date: Option<String>,
    /// Only these action codes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_codes: Option<Vec<String>>,
    /// Only actions in this state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<UserActionState>,
}

/// One action returned by [`query_user_actions`](crate::Client::query_user_actions).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserAction {
    /// The action code.
    pub action_code: String,
    /// The idempotency key of this instance.
    pub idempotency_key: String,
    /// When it was tracked (ISO-8601).
    #[serde(default)]
    pub created_at: String,
    /// When it was last updated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    /// Its state.
    pub state: UserActionState,
    /// When the state last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_updated_at: Option<String>,
    /// The method the challenge was completed with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification_method: Option<VerificationMethod>,
    /// The authenticator that completed the challenge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified_by_authenticator_id: Option<String>,
    /// The user agent recorded with the action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// The IP address recorded with the action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
    /// The country derived from the IP address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country_code: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Users

/// The response of [`get_user`](crate::Client::get_user). An unknown user is not an error: it
/// comes back with `is_enrolled: false`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetUserResponse {
    /// Whether the user has at least one authenticator.
    #[serde(default)]
    pub is_enrolled: bool,
    /// The user id (sent by some service versions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// The user's email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Whether the email is verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    /// The user's phone number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    /// Whether the phone number is verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number_verified: Option<bool>,
    /// The username.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Methods the user has enrolled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enrolled_verification_methods: Option<Vec<VerificationMethod>>,
    /// Methods the user may use or enroll.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_verification_methods: Option<Vec<VerificationMethod>>,
    /// The user's default method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_verification_method: Option<VerificationMethod>,
    /// Custom data stored on the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom: Option<CustomData>,
    /// The user's locale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
}

/// The request of [`update_user`](crate::Client::update_user). Omitted fields are left unchanged.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateUserRequest {
    /// New email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Mark the email verified (also updates an existing email authenticator).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    /// New phone number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    /// Mark the phone number verified (also updates an existing SMS authenticator).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number_verified: Option<bool>,
    /// New username.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// New display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Custom data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom: Option<CustomData>,
    /// New locale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// New default method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_verification_method: Option<VerificationMethod>,
}

/// The response of [`update_user`](crate::Client::update_user).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateUserResponse {
    /// The user id.
    #[serde(default)]
    pub user_id: String,
    /// The email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Whether the email is verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    /// The phone number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    /// Whether the phone number is verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number_verified: Option<bool>,
    /// The username.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Custom data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom: Option<CustomData>,
    /// The locale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// The default method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_verification_method: Option<VerificationMethod>,
}

/// Filters of [`query_users`](crate::Client::query_users) (sent as query parameters).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryUsersRequest {
    /// Exact username.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Exact email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Exact phone number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    /// A client token; its decoded claims come back as `tokenPayload`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Page size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// Cursor: the `lastEvaluatedUserId` of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_evaluated_user_id: Option<String>,
}

/// One user in a [`QueryUsersResponse`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserSummary {
    /// The user id.
    pub user_id: String,
    /// The email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Whether the email is verified.
    #[serde(default)]
    pub email_verified: bool,
    /// The phone number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    /// Whether the phone number is verified.
    #[serde(default)]
    pub phone_number_verified: bool,
    /// The username.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Whether the user has at least one authenticator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_enrolled: Option<bool>,
    /// Methods the user has enrolled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enrolled_verification_methods: Option<Vec<VerificationMethod>>,
    /// When the user was created (ISO-8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
}

/// The response of [`query_users`](crate::Client::query_users).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryUsersResponse {
    /// The users on this page.
    #[serde(default)]
    pub users: Vec<UserSummary>,
    /// The cursor for the next page (absent on the last page).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_evaluated_user_id: Option<String>,
    /// The decoded claims of the `token` filter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_payload: Option<Value>,
}

// ---------------------------------------------------------------------------------------------
// Authenticators

/// The FIDO metadata name and icons of a passkey provider.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AaguidMapping {
    /// Provider name, e.g. "iCloud Keychain".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Light-theme SVG icon (data URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub svg_icon_light: Option<String>,
    /// Dark-theme SVG icon (data URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub svg_icon_dark: Option<String>,
}

/// Name and version of a browser, engine or operating system.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UaComponent {
    /// Name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Major version (browsers only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub major: Option<String>,
}

/// The device part of a parsed user agent.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UaDevice {
    /// Model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Type, e.g. "mobile".
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub device_type: Option<String>,
    /// Vendor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
}

/// The CPU part of a parsed user agent.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UaCpu {
    /// Architecture, e.g. "amd64".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architecture: Option<String>,
}

/// The user agent a passkey was registered from, parsed.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParsedUserAgent {
    /// The raw user agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ua: Option<String>,
    /// Browser.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub browser: Option<UaComponent>,
    /// Device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<UaDevice>,
    /// Rendering engine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<UaComponent>,
    /// Operating system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<UaComponent>,
    /// CPU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<UaCpu>,
}

/// The WebAuthn credential of a passkey or security key authenticator.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebauthnCredential {
    /// The credential id (base64url).
    pub credential_id: String,
    /// The device it was registered on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    /// A display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The authenticator model's AAGUID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aaguid: Option<String>,
    /// The provider name and icons for the AAGUID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aaguid_mapping: Option<AaguidMapping>,
    /// Whether the credential is backed up (synced).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_backed_up: Option<bool>,
    /// `singleDevice` or `multiDevice`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_device_type: Option<String>,
    /// `platform` or `cross-platform`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authenticator_attachment: Option<String>,
    /// The user agent it was registered from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parsed_user_agent: Option<ParsedUserAgent>,
    /// When the credential was verified (registered), ISO-8601 (the Web SDK's type has it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified_at: Option<String>,
}

/// An authenticator enrolled by a user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserAuthenticator {
    /// The owner.
    #[serde(default)]
    pub user_id: String,
    /// The authenticator id.
    pub user_authenticator_id: String,
    /// The method.
    pub verification_method: VerificationMethod,
    /// When it was created (ISO-8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// When it was verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified_at: Option<String>,
    /// When it was last used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_verified_at: Option<String>,
    /// Whether it is the user's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_default: Option<bool>,
    /// The email (email methods).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The phone number (SMS, WhatsApp).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    /// The username.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// The channel last used for SMS codes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_sms_channel: Option<SmsChannel>,
    /// The WebAuthn credential (passkeys, security keys). Also accepts Go's `webAuthnCredential`.
    #[serde(
        default,
        alias = "webAuthnCredential",
        skip_serializing_if = "Option::is_none"
    )]
    pub webauthn_credential: Option<WebauthnCredential>,
}

/// The request of [`enroll_verified_authenticator`](crate::Client::enroll_verified_authenticator).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnrollVerifiedAuthenticatorRequest {
    /// The method to enroll.
    pub verification_method: VerificationMethod,
    /// The email (email methods).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The phone number (SMS, WhatsApp).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    /// The `otpauth://` URI (required for `AUTHENTICATOR_APP`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub otp_uri: Option<String>,
    /// Make it the user's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_default: Option<bool>,
}

impl EnrollVerifiedAuthenticatorRequest {
    /// A request for `method` with every optional field unset.
    ///
    /// ```
    /// # use authsignal_sdk::{EnrollVerifiedAuthenticatorRequest, VerificationMethod};
    /// let request = EnrollVerifiedAuthenticatorRequest {
    ///     email: Some("alice@example.com".into()),
    ///     ..EnrollVerifiedAuthenticatorRequest::new(VerificationMethod::EmailOtp)
    /// };
    /// ```
    pub fn new(method: VerificationMethod) -> Self {
        Self {
            verification_method: method,
            email: None,
            phone_number: None,
            otp_uri: None,
            is_default: None,
        }
    }
}

/// The response of [`enroll_verified_authenticator`](crate::Client::enroll_verified_authenticator).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnrollVerifiedAuthenticatorResponse {
    /// The new authenticator.
    pub authenticator: UserAuthenticator,
    /// Recovery codes, when the service issues them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_codes: Option<Vec<String>>,
}

/// One passkey of a [`BatchEnrollRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchEnrollAuthenticator {
    /// The owner.
    pub user_id: String,
    /// The method (`PASSKEY`).
    pub verification_method: VerificationMethod,
    /// The credential id (base64url).
    pub credential_id: String,
    /// The credential public key (base64url COSE key).
    pub credential_public_key: String,
    /// A display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// WebAuthn transports, e.g. `internal`, `hybrid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transports: Option<Vec<String>>,
    /// The authenticator model's AAGUID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aaguid: Option<String>,
}

/// The request of [`batch_enroll_verified_authenticators`](crate::Client::batch_enroll_verified_authenticators)
/// (at most 1000 items).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchEnrollRequest {
    /// The passkeys to import.
    pub authenticators: Vec<BatchEnrollAuthenticator>,
}

/// One failed item of a [`BatchEnrollResponse`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchEnrollFailure {
    /// The owner.
    #[serde(default)]
    pub user_id: String,
    /// The credential id.
    #[serde(default)]
    pub credential_id: String,
    /// Why it failed, e.g. `conflict`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// A description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
}

/// The response of [`batch_enroll_verified_authenticators`](crate::Client::batch_enroll_verified_authenticators).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchEnrollResponse {
    /// Items received.
    #[serde(default)]
    pub total: u32,
    /// Items enrolled.
    #[serde(default)]
    pub succeeded: u32,
    /// Items that failed.
    #[serde(default)]
    pub failed: u32,
    /// Details of the failures.
    #[serde(default)]
    pub failures: Vec<BatchEnrollFailure>,
}

// ---------------------------------------------------------------------------------------------
// Server-driven challenges

/// The request of [`challenge`](crate::Client::challenge) (`POST /challenge`): send an OTP.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChallengeRequest {
    /// `SMS`, `EMAIL_OTP` or `WHATSAPP` (omit when re-sending `challenge_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification_method: Option<VerificationMethod>,
    /// The action code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// An idempotency key (also makes the call retryable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// Where to send an email code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Where to send an SMS or WhatsApp code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    /// The SMS channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sms_channel: Option<SmsChannel>,
    /// The message locale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// The user, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Space-separated scopes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The device identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    /// The client's IP address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
    /// The client's user agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// Custom data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom: Option<CustomData>,
    /// An existing challenge to re-send.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenge_id: Option<String>,
}

/// The response of [`challenge`](crate::Client::challenge).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChallengeResponse {
    /// The challenge id (pass it to `verify` and `claim`).
    pub challenge_id: String,
    /// The action's idempotency key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// When the code expires (Unix time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

/// The request of [`verify`](crate::Client::verify) (`POST /verify`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyRequest {
    /// The challenge id.
    pub challenge_id: String,
    /// The code the user typed.
    pub verification_code: String,
}

/// The response of [`verify`](crate::Client::verify).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyResponse {
    /// Whether the code was right.
    #[serde(default)]
    pub is_verified: bool,
    /// The verified email (on success).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The verified phone number (on success).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    /// The method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification_method: Option<VerificationMethod>,
    /// Why verification failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<VerificationFailureReason>,
}

/// The request of [`claim_challenge`](crate::Client::claim_challenge) (`POST /claim`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimChallengeRequest {
    /// The challenge id.
    pub challenge_id: String,
    /// The user claiming it.
    pub user_id: String,
    /// Claim without a prior successful `/verify` (defaults to false on the service).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_verification_check: Option<bool>,
}

/// The response of [`claim_challenge`](crate::Client::claim_challenge).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimChallengeResponse {
    /// A token usable with `/validate` and `/sessions`.
    pub token: String,
    /// The method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification_method: Option<VerificationMethod>,
}

/// Filters of [`get_challenge`](crate::Client::get_challenge) (sent as query parameters).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetChallengeRequest {
    /// The challenge id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenge_id: Option<String>,
    /// The user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// The action code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// The method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification_method: Option<VerificationMethod>,
}

/// The response of [`get_challenge`](crate::Client::get_challenge).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetChallengeResponse {
    /// The challenge id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenge_id: Option<String>,
    /// When it expires (Unix time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    /// The method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification_method: Option<VerificationMethod>,
    /// The SMS channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sms_channel: Option<SmsChannel>,
    /// The phone number the code went to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    /// The email the code went to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The action code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Sessions

/// The request of [`create_session`](crate::Client::create_session) (`POST /sessions`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateSessionRequest {
    /// The app client (becomes the access token's `aud`).
    pub client_id: String,
    /// A client token from a successful challenge.
    pub token: String,
    /// The action code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
}

/// An access token and refresh token pair (create and refresh session).
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionTokens {
    /// The access token (an RS256 JWT).
    pub access_token: String,
    /// The refresh token.
    pub refresh_token: String,
}

impl fmt::Debug for SessionTokens {
    // Tokens are bearer credentials: keep them out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionTokens")
            .field("access_token", &"[redacted]")
            .field("refresh_token", &"[redacted]")
            .finish()
    }
}

/// The request of [`validate_session`](crate::Client::validate_session).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidateSessionRequest {
    /// The access token.
    pub access_token: String,
    /// Accept only tokens issued for these app clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ids: Option<Vec<String>>,
}

/// The user of a validated session.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionUser {
    /// The user id.
    pub user_id: String,
    /// The email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The phone number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    /// The username.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Custom data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom: Option<CustomData>,
}

/// The response of [`validate_session`](crate::Client::validate_session).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidateSessionResponse {
    /// The session's user.
    pub user: SessionUser,
    /// When the access token expires (Unix seconds).
    #[serde(default)]
    pub expires_at: i64,
    /// The method used to create the session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification_method: Option<VerificationMethod>,
}

/// The request of [`refresh_session`](crate::Client::refresh_session).
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefreshSessionRequest {
    /// The refresh token.
    pub refresh_token: String,
}

impl fmt::Debug for RefreshSessionRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshSessionRequest")
            .field("refresh_token", &"[redacted]")
            .finish()
    }
}

/// The request of [`revoke_session`](crate::Client::revoke_session).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RevokeSessionRequest {
    /// The access token to revoke.
    pub access_token: String,
}

/// The request of [`revoke_user_sessions`](crate::Client::revoke_user_sessions).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RevokeUserSessionsRequest {
    /// The user whose sessions are revoked.
    pub user_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_enum_value_round_trips_through_json() {
        for state in UserActionState::KNOWN {
            let json = serde_json::to_string(state).unwrap();
            assert_eq!(json, format!("\"{}\"", state.as_str()));
            assert_eq!(
                &serde_json::from_str::<UserActionState>(&json).unwrap(),
                state
            );
            assert!(!state.is_unknown());
        }
        for method in VerificationMethod::KNOWN {
            let json = serde_json::to_string(method).unwrap();
            assert_eq!(
                &serde_json::from_str::<VerificationMethod>(&json).unwrap(),
                method
            );
        }
        for channel in SmsChannel::KNOWN {
            let json = serde_json::to_string(channel).unwrap();
            assert_eq!(&serde_json::from_str::<SmsChannel>(&json).unwrap(), channel);
        }
        for reason in VerificationFailureReason::KNOWN {
            let json = serde_json::to_string(reason).unwrap();
            assert_eq!(
                &serde_json::from_str::<VerificationFailureReason>(&json).unwrap(),
                reason
            );
        }
    }

    #[test]
    fn enum_strings_match_the_reference_exactly() {
        assert_eq!(
            UserActionState::ChallengeRequired.as_str(),
            "CHALLENGE_REQUIRED"
        );
        assert_eq!(UserActionState::ReviewFailed.to_string(), "REVIEW_FAILED");
        assert_eq!(
            VerificationMethod::AuthenticatorApp.as_str(),
            "AUTHENTICATOR_APP"
        );
        assert_eq!(
            VerificationMethod::PalmBiometricsRr.as_str(),
            "PALM_BIOMETRICS_RR"
        );
        assert_eq!(
            VerificationMethod::EmailMagicLink.as_str(),
            "EMAIL_MAGIC_LINK"
        );
        assert_eq!(SmsChannel::Whatsapp.as_str(), "WHATSAPP");
        assert_eq!(
            VerificationFailureReason::CodeInvalidOrExpired.as_str(),
            "CODE_INVALID_OR_EXPIRED"
        );
        assert_eq!(UserActionState::KNOWN.len(), 8);
        assert_eq!(VerificationMethod::KNOWN.len(), 14);
    }

    #[test]
    fn an_unknown_enum_value_decodes_and_round_trips_verbatim() {
        let method: VerificationMethod = serde_json::from_str("\"QUANTUM_TELEPATHY\"").unwrap();
        assert_eq!(
            method,
            VerificationMethod::Unknown("QUANTUM_TELEPATHY".into())
        );
        assert!(method.is_unknown());
        assert_eq!(
            serde_json::to_string(&method).unwrap(),
            "\"QUANTUM_TELEPATHY\""
        );
        let state: UserActionState = serde_json::from_str("\"ESCALATED\"").unwrap();
        assert_eq!(state.to_string(), "ESCALATED");
        // Escaped strings cannot be borrowed; they must still decode.
        let escaped: SmsChannel = serde_json::from_str("\"WHATS\\u0041PP\"").unwrap();
        assert_eq!(escaped, SmsChannel::Whatsapp);
    }

    #[test]
    fn enum_values_parse_from_str() {
        assert_eq!(
            "BLOCK".parse::<UserActionState>().unwrap(),
            UserActionState::Block
        );
        assert_eq!(VerificationMethod::from("SMS"), VerificationMethod::Sms);
        assert_eq!(
            "sms".parse::<VerificationMethod>().unwrap(),
            VerificationMethod::Unknown("sms".into()),
            "wire strings are case-sensitive"
        );
    }

    #[test]
    fn request_structs_serialise_camel_case_and_omit_none() {
        let attributes = TrackAttributes {
            redirect_url: Some("https://example.com/cb".into()),
            ip_address: Some("127.0.0.1".into()),
            redirect_to_settings: Some(false),
            ..Default::default()
        };
        let json = serde_json::to_value(&attributes).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "redirectUrl": "https://example.com/cb",
                "ipAddress": "127.0.0.1",
                "redirectToSettings": false
            })
        );
        assert_eq!(
            serde_json::to_string(&TrackAttributes::default()).unwrap(),
            "{}"
        );
    }

    #[test]
    fn validate_response_reads_the_action_code_from_either_key() {
        let both: ValidateChallengeResponse =
            serde_json::from_str(r#"{"isValid":true,"action":"a","actionCode":"a"}"#).unwrap();
        assert_eq!(both.action_code(), Some("a"));
        let old: ValidateChallengeResponse =
            serde_json::from_str(r#"{"isValid":false,"actionCode":"old"}"#).unwrap();
        assert_eq!(old.action_code(), Some("old"));
        let none: ValidateChallengeResponse = serde_json::from_str(r#"{"isValid":false}"#).unwrap();
        assert_eq!(none.action_code(), None);
    }

    #[test]
    fn error_body_reads_the_code_from_either_key() {
        let new: ApiErrorBody = serde_json::from_str(r#"{"errorCode":"unauthorized"}"#).unwrap();
        assert_eq!(new.code(), Some("unauthorized"));
        let old: ApiErrorBody = serde_json::from_str(r#"{"error":"invalid_request"}"#).unwrap();
        assert_eq!(old.code(), Some("invalid_request"));
        let built = serde_json::to_value(ApiErrorBody::new("unauthorized", "no")).unwrap();
        assert_eq!(
            built,
            serde_json::json!({"error":"unauthorized","errorCode":"unauthorized","errorDescription":"no"})
        );
    }

    #[test]
    fn authenticator_accepts_the_go_spelling_of_webauthn_credential() {
        let json = r#"{"userId":"u","userAuthenticatorId":"a","verificationMethod":"PASSKEY",
            "webAuthnCredential":{"credentialId":"c"}}"#;
        let authenticator: UserAuthenticator = serde_json::from_str(json).unwrap();
        assert_eq!(
            authenticator.webauthn_credential.unwrap().credential_id,
            "c"
        );
    }

    #[test]
    fn session_tokens_debug_hides_the_tokens() {
        let tokens = SessionTokens {
            access_token: "secret-access".into(),
            refresh_token: "secret-refresh".into(),
        };
        let debug = format!("{tokens:?}");
        assert!(!debug.contains("secret-access") && !debug.contains("secret-refresh"));
    }
}
