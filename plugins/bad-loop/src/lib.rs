//! Test plugin: an authorizer that loops forever. Gatehouse must stop it at its deadline and
//! answer that one request with 500, without disturbing any other request.

use gatehouse_sdk::{AuthorizerError, Decision, Request};

struct Spin;

impl gatehouse_sdk::Authorizer for Spin {
    fn authorize(request: Request) -> Result<Decision, AuthorizerError> {
        let mut n: u64 = request.body.len() as u64;
        loop {
            n = std::hint::black_box(n.wrapping_mul(6364136223846793005).wrapping_add(1));
            if n == 42 && request.path.is_empty() {
                return Ok(Decision::allow("never"));
            }
        }
    }
}

gatehouse_sdk::export_authorizer!(Spin);
