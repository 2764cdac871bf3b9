import { login, problemText } from "../api";
import { h } from "../dom";

export function loginPage(main: HTMLElement, params: URLSearchParams): void {
  const next = params.get("next") || "#/";
  const err = h("p", { class: "error", role: "alert" });
  const email = h("input", { id: "email", type: "email", name: "email", autocomplete: "username", required: true });
  const password = h("input", { id: "password", type: "password", name: "password", autocomplete: "current-password", required: true });
  const submit = h("button", { type: "submit" }, "Sign in");
  const form = h("form", { class: "card narrow" },
    h("h1", {}, "Sign in"),
    h("label", { for: "email" }, "Email"), email,
    h("label", { for: "password" }, "Password"), password,
    submit, err,
    h("p", { class: "hint" }, "Demo buyers: alice@evently.test … frank@evently.test, password evently-user-demo (printed by evently seed)."),
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    err.textContent = "";
    submit.disabled = true;
    try {
      await login(email.value.trim(), password.value);
      location.hash = next.startsWith("#/login") ? "#/" : next;
    } catch (x) {
      err.textContent = problemText(x, "Could not reach Evently; check your connection.");
    } finally {
      submit.disabled = false;
    }
  });
  main.append(form);
  email.focus();
}
