/* The portal's card form on Stripe Elements.
 *
 * Stripe.js confirms the SetupIntent here, in the payer's browser, so the card number never
 * reaches our server; then the SetupIntent's id is posted with the form, and the server asks
 * Stripe what happened before saving anything (it never takes this page's word for it).
 * A separate file because the portal's Content-Security-Policy allows no inline script.
 */
(function () {
  "use strict";
  var form = document.getElementById("card-form");
  if (!form) {
    return;
  }
  document.getElementById("card-no-js").hidden = true;
  var errors = document.getElementById("card-errors");
  var button = document.getElementById("card-submit");
  var label = button.textContent;
  var words = JSON.parse(form.getAttribute("data-messages"));

  function show(text) {
    errors.textContent = text || "";
  }

  // Stripe's codes (error.decline_code first, it is the more precise) to our plain words.
  function messageFor(error) {
    var code = String((error && (error.decline_code || error.code)) || "");
    var type = String((error && error.type) || "");
    if (code === "expired_card" || code.indexOf("expiry_year_past") >= 0) {
      return words.expired;
    }
    if (code.indexOf("number") >= 0) {
      return words.number;
    }
    if (code.indexOf("expiry") >= 0) {
      return words.expiry;
    }
    if (code.indexOf("cvc") >= 0) {
      return words.cvc;
    }
    if (code.indexOf("authentication") >= 0) {
      return words.authentication;
    }
    if (code === "processing_error" || type === "api_connection_error" || type === "rate_limit_error") {
      return words.temporary;
    }
    if (type === "card_error" || code === "card_declined" || (error && error.decline_code)) {
      return words.declined;
    }
    return words.generic;
  }

  if (typeof window.Stripe !== "function") {
    show(words.unavailable); // blocked or offline: the button stays disabled
    return;
  }
  var locale = form.getAttribute("data-locale");
  var stripe = window.Stripe(form.getAttribute("data-publishable-key"), { locale: locale });
  // Brazilian cards have no postal code check; the payer types only what is needed.
  var card = stripe.elements({ locale: locale }).create("card", { hidePostalCode: true });
  card.mount("#card-element");
  card.on("change", function (event) {
    // Live checks as the payer types (Stripe.js); the emulator calls this without an event.
    if (event) {
      show(event.error ? messageFor(event.error) : "");
    }
  });

  var busy = false;
  function ready() {
    busy = false;
    button.disabled = false;
    button.removeAttribute("aria-busy");
    button.textContent = label;
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (busy) {
      return; // one confirmation at a time: a double click must not confirm twice
    }
    busy = true;
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    button.textContent = words.saving;
    show("");
    stripe
      .confirmCardSetup(form.getAttribute("data-client-secret"), { payment_method: { card: card } })
      .then(
        function (result) {
          if (result.error || !result.setupIntent) {
            ready();
            show(messageFor(result.error));
            return;
          }
          document.getElementById("setup-intent").value = result.setupIntent.id;
          form.submit(); // the plain form post (with its CSRF token), not this handler again
        },
        function () {
          ready();
          show(words.temporary);
        }
      );
  });
  ready();
})();
