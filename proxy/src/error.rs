//! Typed failures. [`Rejection`] is every way a stage can end a request with a gateway
//! response; `pipeline/respond.rs` is the only place one becomes an HTTP response.

use http::StatusCode;
use std::borrow::Cow;

/// API Gateway's gateway response types, with their default status, message and error type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResponseType {
    Unauthorized,
    AccessDenied,
    MissingAuthenticationToken,
    InvalidApiKey,
    ExpiredToken,
    InvalidSignature,
    WafFiltered,
    ResourceNotFound,
    BadRequestParameters,
    BadRequestBody,
    RequestTooLarge,
    UnsupportedMediaType,
    Throttled,
    QuotaExceeded,
    ApiConfigurationError,
    AuthorizerConfigurationError,
    AuthorizerFailure,
    IntegrationFailure,
    IntegrationTimeout,
    Default4xx,
    Default5xx,
}

impl ResponseType {
    /// Every type, in a fixed order; `index()` is a position in this list.
    pub const ALL: [ResponseType; 21] = [
        Self::Unauthorized,
        Self::AccessDenied,
        Self::MissingAuthenticationToken,
        Self::InvalidApiKey,
        Self::ExpiredToken,
        Self::InvalidSignature,
        Self::WafFiltered,
        Self::ResourceNotFound,
        Self::BadRequestParameters,
        Self::BadRequestBody,
        Self::RequestTooLarge,
        Self::UnsupportedMediaType,
        Self::Throttled,
        Self::QuotaExceeded,
        Self::ApiConfigurationError,
        Self::AuthorizerConfigurationError,
        Self::AuthorizerFailure,
        Self::IntegrationFailure,
        Self::IntegrationTimeout,
        Self::Default4xx,
        Self::Default5xx,
    ];

    pub fn index(self) -> usize {
        self as usize
    }

    /// The name used in config (`gateway_responses:`) and in `$context.error.responseType`.
    pub fn name(self) -> &'static str {
        self.info().0
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }

    /// API Gateway's default status code.
    pub fn default_status(self) -> StatusCode {
        StatusCode::from_u16(self.info().1).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// API Gateway's default message, the `message` of the JSON body.
    pub fn default_message(self) -> &'static str {
        self.info().2
    }

    /// The `x-amzn-ErrorType` header value.
    pub fn error_type(self) -> &'static str {
        self.info().3
    }

    /// Whether this type is in the 4xx class (for `DEFAULT_4XX` fallback).
    pub fn is_client_error(self) -> bool {
        self.info().1 < 500
    }

    fn info(self) -> (&'static str, u16, &'static str, &'static str) {
        use ResponseType::*;
        match self {
            Unauthorized => ("UNAUTHORIZED", 401, "Unauthorized", "UnauthorizedException"),
            AccessDenied => (
                "ACCESS_DENIED",
                403,
                "User is not authorized to access this resource",
                "AccessDeniedException",
            ),
            MissingAuthenticationToken => (
                "MISSING_AUTHENTICATION_TOKEN",
                403,
                "Missing Authentication Token",
                "MissingAuthenticationTokenException",
            ),
            InvalidApiKey => ("INVALID_API_KEY", 403, "Forbidden", "ForbiddenException"),
            ExpiredToken => (
                "EXPIRED_TOKEN",
                403,
                "The security token included in the request is expired",
                "ExpiredTokenException",
            ),
            InvalidSignature => (
                "INVALID_SIGNATURE",
                403,
                "The request signature we calculated does not match the signature you provided",
                "InvalidSignatureException",
            ),
            WafFiltered => ("WAF_FILTERED", 403, "Forbidden", "ForbiddenException"),
            ResourceNotFound => ("RESOURCE_NOT_FOUND", 404, "Not Found", "NotFoundException"),
            BadRequestParameters => (
                "BAD_REQUEST_PARAMETERS",
                400,
                "Bad Request",
                "BadRequestException",
            ),
            BadRequestBody => (
                "BAD_REQUEST_BODY",
                400,
                "Invalid request body",
                "BadRequestException",
            ),
            RequestTooLarge => (
                "REQUEST_TOO_LARGE",
                413,
                "Request Too Long",
                "RequestTooLongException",
            ),
            UnsupportedMediaType => (
                "UNSUPPORTED_MEDIA_TYPE",
                415,
                "Unsupported Media Type",
                "UnsupportedMediaTypeException",
            ),
            Throttled => (
                "THROTTLED",
                429,
                "Too Many Requests",
                "TooManyRequestsException",
            ),
            QuotaExceeded => (
                "QUOTA_EXCEEDED",
                429,
                "Limit Exceeded",
                "LimitExceededException",
            ),
            ApiConfigurationError => (
                "API_CONFIGURATION_ERROR",
                500,
                "Internal server error",
                "InternalServerErrorException",
            ),
            AuthorizerConfigurationError => (
                "AUTHORIZER_CONFIGURATION_ERROR",
                500,
                "Internal server error",
                "AuthorizerConfigurationException",
            ),
            AuthorizerFailure => (
                "AUTHORIZER_FAILURE",
                500,
                "Internal server error",
                "AuthorizerFailureException",
            ),
            IntegrationFailure => (
                "INTEGRATION_FAILURE",
                504,
                "Internal server error",
                "InternalServerErrorException",
            ),
            IntegrationTimeout => (
                "INTEGRATION_TIMEOUT",
                504,
                "Endpoint request timed out",
                "InternalServerErrorException",
            ),
            Default4xx => ("DEFAULT_4XX", 400, "Bad Request", "BadRequestException"),
            Default5xx => (
                "DEFAULT_5XX",
                500,
                "Internal server error",
                "InternalServerErrorException",
            ),
        }
    }
}

/// A request ended by the gateway itself. Carries what the response and the logs need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub kind: ResponseType,
    /// A status other than the type's default, e.g. 502 for an unreachable backend.
    pub status: Option<StatusCode>,
    /// Why, for the log; never sent to the client.
    pub reason: Cow<'static, str>,
    /// Seconds for a `Retry-After` header.
    pub retry_after: Option<u64>,
    /// A message for the client instead of the type's default (`$context.error.message`),
    /// e.g. which request parameters are missing.
    pub message: Option<Box<str>>,
    /// A `www-authenticate` challenge (JWT authorizers).
    pub challenge: Option<Box<str>>,
    /// An `x-amzn-ErrorType` other than the type's (SigV4's `IncompleteSignatureException`).
    pub error_type: Option<&'static str>,
}

impl Rejection {
    pub fn new(kind: ResponseType, reason: impl Into<Cow<'static, str>>) -> Self {
        Self {
            kind,
            status: None,
            reason: reason.into(),
            retry_after: None,
            message: None,
            challenge: None,
            error_type: None,
        }
    }

    pub fn with_error_type(mut self, error_type: &'static str) -> Self {
        self.error_type = Some(error_type);
        self
    }

    pub fn with_challenge(mut self, challenge: impl Into<Box<str>>) -> Self {
        self.challenge = Some(challenge.into());
        self
    }

    pub fn with_message(mut self, message: impl Into<Box<str>>) -> Self {
        self.message = Some(message.into());
        self
    }

    /// What the client is told: the specific message, else the type's default.
    pub fn message(&self) -> &str {
        self.message
            .as_deref()
            .unwrap_or(self.kind.default_message())
    }

    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = Some(status);
        self
    }

    pub fn missing_token() -> Self {
        Self::new(ResponseType::MissingAuthenticationToken, "no route matched")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_indices_match_all() {
        for (i, t) in ResponseType::ALL.iter().enumerate() {
            assert_eq!(t.index(), i);
            assert_eq!(ResponseType::from_name(t.name()), Some(*t));
        }
        assert_eq!(ResponseType::from_name("NOPE"), None);
    }

    /// "Gateway response types for API Gateway" (API Gateway developer guide,
    /// supported-gateway-response-types), the "Default status code" column, and each type's
    /// "If the response type is unspecified, this response defaults to the `DEFAULT_4XX` type"
    /// (or `DEFAULT_5XX`). DEFAULT_4XX and DEFAULT_5XX have no status there ("Null"): they
    /// are listed here with the status Gatehouse answers when it raises them itself.
    #[test]
    fn default_statuses_are_api_gateways_table() {
        use ResponseType::*;
        let table = [
            (AccessDenied, 403),
            (ApiConfigurationError, 500),
            (AuthorizerConfigurationError, 500),
            (AuthorizerFailure, 500),
            (BadRequestParameters, 400),
            (BadRequestBody, 400),
            (Default4xx, 400),
            (Default5xx, 500),
            (ExpiredToken, 403),
            (IntegrationFailure, 504),
            (IntegrationTimeout, 504),
            (InvalidApiKey, 403),
            (InvalidSignature, 403),
            (MissingAuthenticationToken, 403),
            (QuotaExceeded, 429),
            (RequestTooLarge, 413),
            (ResourceNotFound, 404),
            (Throttled, 429),
            (Unauthorized, 401),
            (UnsupportedMediaType, 415),
            (WafFiltered, 403),
        ];
        assert_eq!(
            table.len(),
            ResponseType::ALL.len(),
            "every type is in the table"
        );
        for (t, status) in table {
            assert_eq!(t.default_status().as_u16(), status, "{}", t.name());
            assert_eq!(t.is_client_error(), status < 500, "{}", t.name());
        }
    }

    #[test]
    fn defaults_follow_api_gateway() {
        let t = ResponseType::MissingAuthenticationToken;
        assert_eq!(t.default_status(), StatusCode::FORBIDDEN);
        assert_eq!(t.default_message(), "Missing Authentication Token");
        assert_eq!(ResponseType::Throttled.default_status().as_u16(), 429);
        assert_eq!(
            ResponseType::QuotaExceeded.default_message(),
            "Limit Exceeded"
        );
        assert!(!ResponseType::IntegrationTimeout.is_client_error());
    }
}
