// Signing up to buy: name, email and shipping address, asked once. The server checks
// every field (one set of rules, livecart/commerce/buyers.py) and names each one that is
// wrong; the form marks them all and keeps what was typed. A refused sign-up creates
// nothing. Success keeps the buyer's token on this device. The same form edits the
// profile later (GET / PUT /api/me).

import { api } from "./api.js";
import { fillCountries } from "./countries.js";
import { h, showResult } from "./format.js";
import { say } from "./messages.js";
import { saveBuyerToken } from "./session.js";

// Form field -> [label, the server's field name, autocomplete, input type]
const FIELDS = [
  ["name", "Full name", "name", "name", "text"],
  ["email", "Email", "email", "email", "email"],
  ["line1", "Address", "address.line1", "address-line1", "text"],
  ["line2", "Apartment, suite (optional)", "address.line2", "address-line2", "text"],
  ["city", "City", "address.city", "address-level2", "text"],
  ["postal_code", "Postal code", "address.postal_code", "postal-code", "text"],
  ["region", "State or region (optional)", "address.region", "address-level1", "text"],
];

function field(id, label, autocomplete, type) {
  const input = h("input", {
    class: "lc-input",
    id: `signup-${id}`,
    name: id,
    type,
    autocomplete,
    "aria-describedby": `signup-${id}-error`,
  });
  const wrapper = h(
    "div",
    { class: "lc-field" },
    h("label", { for: input.id, text: label }),
    input,
    h("p", { class: "lc-field-error", id: `signup-${id}-error` }),
  );
  return { wrapper, input };
}

/**
 * `createSignup(dialog, {onToken})`: `ask()` resolves true once the device has a
 * buyer's token (asking at most once at a time), false when the person cancels;
 * `edit(token)` changes the profile of the signed-in buyer.
 */
export function createSignup(dialog, { onToken }) {
  const inputs = {};
  const title = h("h2", { id: "signup-title", text: "Sign up to buy" });
  const intro = h("p", {
    class: "lc-muted",
    text: "Your order ships here. We ask once; this device remembers you.",
  });
  const contact = h("fieldset", { class: "lc-fieldset" }, h("legend", { text: "You" }));
  const address = h("fieldset", { class: "lc-fieldset" }, h("legend", { text: "Shipping address" }));
  for (const [id, label, , autocomplete, type] of FIELDS) {
    const made = field(id, label, autocomplete, type);
    inputs[id] = made.input;
    (id === "name" || id === "email" ? contact : address).append(made.wrapper);
  }
  const country = h("select", {
    class: "lc-select",
    id: "signup-country",
    name: "country",
    autocomplete: "country",
    "aria-describedby": "signup-country-error",
  });
  inputs.country = country;
  address.append(
    h(
      "div",
      { class: "lc-field" },
      h("label", { for: "signup-country", text: "Country" }),
      country,
      h("p", { class: "lc-field-error", id: "signup-country-error" }),
    ),
    h("p", { class: "lc-field-error", id: "signup-address-error" }),
  );
  const submit = h("button", { class: "lc-button lc-button--primary", type: "submit", text: "Continue" });
  const cancel = h("button", { class: "lc-button", type: "button", text: "Cancel" });
  const result = h("p", { class: "lc-result", role: "status" });
  const form = h(
    "form",
    { class: "lc-form", novalidate: true },
    intro,
    contact,
    address,
    h("div", { class: "lc-row" }, submit, cancel),
    result,
  );
  dialog.setAttribute("aria-labelledby", "signup-title");
  dialog.replaceChildren(
    h("div", { class: "lc-dialog__head" }, title),
    h("div", { class: "lc-dialog__body" }, form),
  );

  const serverField = Object.fromEntries(FIELDS.map(([id, , name]) => [name, id]));
  serverField["address.country"] = "country";
  let mode = "create";
  let token = null;
  let waiting = null; // the open ask's promise: two taps share one form
  let settle = () => {};

  function clearErrors() {
    for (const [id, input] of Object.entries(inputs)) {
      input.removeAttribute("aria-invalid");
      dialog.querySelector(`#signup-${id}-error`).textContent = "";
    }
    dialog.querySelector("#signup-address-error").textContent = "";
    showResult(result, "", "");
  }

  // The server names a field by its path ("address.city must not be empty"); the form
  // says it with the label the person sees ("City must not be empty").
  function inWords(name, id, message) {
    if (id === "country" && !inputs.country.value) return "Choose a country";
    const label = dialog.querySelector(`label[for="signup-${id}"]`).textContent.replace(/ \(optional\)$/, "");
    return message.startsWith(name) ? label + message.slice(name.length) : message;
  }

  function markErrors(errors) {
    let first = null;
    for (const { field: name, message } of errors) {
      const id = serverField[name];
      if (id) {
        inputs[id].setAttribute("aria-invalid", "true");
        dialog.querySelector(`#signup-${id}-error`).textContent = inWords(name, id, message);
        first ??= inputs[id];
      } else if (name === "address") {
        dialog.querySelector("#signup-address-error").textContent = message;
        first ??= inputs.line1;
      }
    }
    first?.focus();
    return first !== null;
  }

  function body() {
    const value = (id) => inputs[id].value;
    return {
      name: value("name"),
      email: value("email"),
      address: {
        line1: value("line1"),
        line2: value("line2"),
        city: value("city"),
        postal_code: value("postal_code"),
        region: value("region"),
        country: value("country"),
      },
    };
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors();
    submit.disabled = true;
    submit.setAttribute("aria-busy", "true");
    showResult(result, "pending", mode === "create" ? "Signing you up…" : "Saving…");
    try {
      if (mode === "create") {
        const created = await api("/api/buyers", { method: "POST", body: body() });
        saveBuyerToken(created.token);
        onToken(created.token, created.buyer);
      } else {
        const saved = await api("/api/me", { method: "PUT", body: body(), token });
        onToken(token, saved);
      }
      dialog.close("done");
      settle(true);
    } catch (error) {
      const errors = error.errors?.length ? error.errors : error.field ? [{ field: error.field, message: error.message }] : [];
      if (error.code === "invalid" && markErrors(errors)) {
        showResult(result, "refused", "Please check the fields marked above");
      } else if (error.code === "rate_limited") {
        const minutes = Math.max(1, Math.ceil((error.retryAfterMs ?? 60_000) / 60_000));
        showResult(result, "refused", `Too many sign-ups from this network. Try again in ${minutes} min`);
      } else {
        showResult(result, "refused", say(error.code));
      }
    } finally {
      submit.disabled = false;
      submit.removeAttribute("aria-busy");
    }
  });
  cancel.addEventListener("click", () => dialog.close("cancel"));
  dialog.addEventListener("close", () => {
    if (dialog.returnValue !== "done") settle(false);
  });

  function open(newMode, profile) {
    mode = newMode;
    title.textContent = mode === "create" ? "Sign up to buy" : "Your details";
    intro.hidden = mode !== "create";
    submit.textContent = mode === "create" ? "Continue" : "Save";
    clearErrors();
    if (profile) {
      inputs.name.value = profile.name;
      inputs.email.value = profile.email;
      for (const id of ["line1", "line2", "city", "postal_code", "region"]) inputs[id].value = profile.address[id];
    }
    fillCountries(country, profile?.address.country ?? guessCountry());
    dialog.returnValue = "";
    waiting = new Promise((resolve) => {
      settle = (done) => {
        settle = () => {};
        waiting = null;
        resolve(done);
      };
    });
    dialog.showModal();
    inputs.name.focus();
    return waiting;
  }

  return {
    ask() {
      return waiting ?? open("create", null);
    },
    async edit(currentToken) {
      token = currentToken;
      let profile = null;
      try {
        profile = await api("/api/me", { token });
      } catch (error) {
        if (error.code !== "not_found") throw error;
      }
      return open("edit", profile);
    },
  };
}

function guessCountry() {
  const region = (navigator.language || "").split("-")[1];
  return region && region.length === 2 ? region.toUpperCase() : "";
}
