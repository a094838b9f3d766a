"use strict";
// "Add a row" for the medications: copies the last row with the next number in its
// field names. Without script the form still offers blank rows.
document.querySelectorAll("[data-add-row]").forEach(function (button) {
  var table = document.getElementById("f-" + button.dataset.addRow);
  if (!table) { return; }
  button.hidden = false;
  button.addEventListener("click", function () {
    var body = table.tBodies[0];
    var last = body.rows[body.rows.length - 1];
    var row = last.cloneNode(true);
    var next = body.rows.length;
    row.querySelectorAll("input, select").forEach(function (input) {
      ["name", "id"].forEach(function (attr) {
        var value = input.getAttribute(attr);
        if (value) { input.setAttribute(attr, value.replace(/\.\d+\./, "." + next + ".")); }
      });
      var label = input.getAttribute("aria-label") || "";
      input.setAttribute("aria-label", label.replace(/medication \d+/, "medication " + (next + 1)));
      input.value = "";
      input.removeAttribute("aria-invalid");
      input.removeAttribute("aria-describedby");
    });
    row.querySelectorAll(".field-error").forEach(function (e) { e.remove(); });
    row.querySelectorAll(".has-error").forEach(function (e) { e.classList.remove("has-error"); });
    body.appendChild(row);
    row.querySelector("input").focus();
  });
});
