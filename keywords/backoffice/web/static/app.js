// Clicking a field row scrolls to the page where that field was read.
document.addEventListener("click", (event) => {
  const row = event.target.closest("tr[data-page]");
  if (!row) return;
  const figure = document.getElementById(`page-${row.dataset.page}`);
  if (!figure) return;
  figure.scrollIntoView({ behavior: "smooth", block: "start" });
  figure.classList.add("flash-page");
  setTimeout(() => figure.classList.remove("flash-page"), 1200);
});

// As-you-type checks of the invoice correction form: each value is sent to the server,
// which reads it with the robot's own parsers; an invalid value blocks the form's submit.
(() => {
  const form = document.getElementById("correct");
  if (!form) return;
  const token = form.querySelector("input[name=csrf_token]").value;
  const language = form.dataset.language || "";
  const timers = new Map();

  async function check(input) {
    const note = document.getElementById(`check-${input.dataset.field}`);
    let answer;
    try {
      const response = await fetch("/queue/validate", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": token },
        body: JSON.stringify({ field: input.dataset.field, value: input.value, language }),
      });
      answer = await response.json();
    } catch (error) {
      return; // offline: the server checks again on save
    }
    input.setCustomValidity(answer.ok ? "" : answer.error);
    input.setAttribute("aria-invalid", answer.ok ? "false" : "true");
    input.classList.toggle("ok", answer.ok);
    if (note) {
      note.textContent = answer.ok ? (answer.shown && answer.shown !== input.value ? `reads as ${answer.shown}` : "") : answer.error;
      note.classList.toggle("ok", answer.ok);
    }
  }

  form.addEventListener("input", (event) => {
    const input = event.target.closest("input[data-field]");
    if (!input) return;
    clearTimeout(timers.get(input));
    timers.set(input, setTimeout(() => check(input), 250));
  });
  form.querySelectorAll("input[aria-invalid=true]").forEach((input) => check(input));
})();
