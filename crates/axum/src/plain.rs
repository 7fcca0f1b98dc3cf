//! [`PlainPages`]: a plain English set of pages, for tests and a first
//! start.

use crate::view::{Pages, Problem, View, escape};

/// Plain English pages: every view, every field, nothing else. For tests
/// and a first start; a service supplies its own [`Pages`].
#[derive(Clone, Copy, Debug, Default)]
pub struct PlainPages;

impl Pages for PlainPages {
    fn render(&self, view: &View, base: &str) -> String {
        let form = |action: &str, csrf: &str, fields: &str, submit: &str| {
            format!(
                "<form method=\"post\" action=\"{base}{action}\">\
                 <input type=\"hidden\" name=\"csrf\" value=\"{}\">{fields}\
                 <button type=\"submit\">{submit}</button></form>",
                escape(csrf)
            )
        };
        let problem = |p: &Option<Problem>| match p {
            Some(p) => {
                let mut s = format!("<p role=\"alert\">{}</p>", escape(&p.message_en));
                for d in &p.details_en {
                    s.push_str(&format!("<p>{}</p>", escape(d)));
                }
                s
            }
            None => String::new(),
        };
        let body = match view {
            View::Login {
                csrf,
                user_id,
                problem: p,
                notice,
            } => format!(
                "<h1>Log in</h1>{}{}{}",
                notice.map_or(String::new(), |n| format!("<p>{}</p>", n.code())),
                problem(p),
                form(
                    "/login",
                    csrf,
                    &format!(
                        "<label>User ID <input name=\"user_id\" value=\"{}\"></label>\
                         <label>Password <input type=\"password\" name=\"password\"></label>\
                         <input type=\"hidden\" name=\"entry\" value=\"login\">",
                        escape(user_id)
                    ),
                    "Log in"
                )
            ),
            View::Enroll {
                csrf,
                token_id,
                problem: p,
            } => format!(
                "<h1>Register your token</h1>{}{}",
                problem(p),
                form(
                    "/enroll",
                    csrf,
                    &format!(
                        "<input name=\"token_id\" value=\"{}\">\
                         <input name=\"otp1\"><input name=\"otp2\">",
                        escape(token_id)
                    ),
                    "Register"
                )
            ),
            View::Otp {
                csrf,
                token_id,
                problem: p,
                ..
            } => format!(
                "<h1>One-time password</h1><p>{}</p>{}{}",
                escape(token_id),
                problem(p),
                form("/otp", csrf, "<input name=\"otp\">", "Log in")
            ),
            View::Resync {
                csrf,
                token_id,
                problem: p,
            } => format!(
                "<h1>Resynchronise</h1><p>{}</p>{}{}",
                escape(token_id),
                problem(p),
                form(
                    "/resync",
                    csrf,
                    "<input name=\"otp1\"><input name=\"otp2\">",
                    "Resync"
                )
            ),
            View::Resynced { token_id } => format!(
                "<h1>Resynchronised</h1><p>{}</p><a href=\"{base}/otp\">Continue</a>",
                escape(token_id)
            ),
            View::Change {
                csrf,
                voluntary,
                problem: p,
            } => {
                let current = if *voluntary {
                    "<input type=\"password\" name=\"current\">"
                } else {
                    ""
                };
                let action = if *voluntary { "/password" } else { "/change" };
                format!(
                    "<h1>Change your password</h1>{}{}",
                    problem(p),
                    form(
                        action,
                        csrf,
                        &format!(
                            "{current}<input type=\"password\" name=\"new\">\
                             <input type=\"password\" name=\"confirm\">"
                        ),
                        "Change"
                    )
                )
            }
            other => format!("<h1>{}</h1><a href=\"{base}/\">Log in</a>", other.name()),
        };
        format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <title>{}</title></head><body>{body}</body></html>",
            view.name()
        )
    }
}
