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
