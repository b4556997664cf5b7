//! The journeys of a person through the system, in the cookie-jar browser.

mod accounts;
mod bypass;
mod first_visit;
mod refusals;
mod second_visit;
mod sessions;
