//! The journeys of a person through the system, in the cookie-jar browser and (`browser*`) in
//! headless Chromium.

mod accounts;
mod backchannel_logout;
mod browser;
mod browser_login;
mod browser_passkeys;
mod browser_step_up;
mod browser_tour;
mod browser_web_sdk;
mod bypass;
mod design;
mod first_visit;
mod refusals;
mod replicas;
mod second_visit;
mod sessions;
