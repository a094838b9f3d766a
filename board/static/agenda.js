// The meeting page's agenda: drag a case to a new place and the whole order is saved
// (POST to the agenda-order form's address, with its CSRF token). Without script the
// up and down buttons beside each case do the same one step at a time.
(function () {
  "use strict";
  var list = document.querySelector("[data-agenda]");
  var form = document.getElementById("agenda-order");
  var status = document.getElementById("agenda-status");
  if (!list || !form) { return; }
  var dragged = null;
  var before = "";

  function items() { return Array.prototype.slice.call(list.querySelectorAll("li[data-case-id]")); }
  function order() { return items().map(function (li) { return li.dataset.caseId; }); }

  function say(text, isError) {
    if (!status) { return; }
    status.textContent = text;
    status.className = "small " + (isError ? "field-error" : "ok");
  }

  // Numbers, the up/down buttons and the cases in full below follow the new order at once.
  function renumber() {
    var all = items();
    var details = document.querySelector("[data-agenda-details]");
    all.forEach(function (li, index) {
      var position = li.querySelector(".position");
      if (position) { position.textContent = String(index + 1); }
      var up = li.querySelector("button[value=up]");
      var down = li.querySelector("button[value=down]");
      if (up) { up.disabled = index === 0; }
      if (down) { down.disabled = index === all.length - 1; }
      var section = details && details.querySelector("section[data-case-id='" + li.dataset.caseId + "']");
      if (section) {
        details.appendChild(section);
        var number = section.querySelector(".position");
        if (number) { number.textContent = String(index + 1); }
      }
    });
  }

  function save() {
    var data = new FormData(form);
    data.delete("case_ids");
    order().forEach(function (id) { data.append("case_ids", id); });
    say("Saving the new order…", false);
    fetch(form.action, {
      method: "POST",
      body: data,
      credentials: "same-origin",
      headers: { "Accept": "application/json" }
    }).then(function (response) {
      return response.json().then(function (body) { return { ok: response.ok, body: body }; });
    }).then(function (result) {
      if (result.ok) {
        list.dataset.saved = result.body.case_ids.join(",");
        say("The new order is saved.", false);
      } else {
        say("The order was not saved: " + result.body.error + " Reload the page.", true);
      }
    }).catch(function () {
      say("The order was not saved: the board could not be reached. Reload the page.", true);
    });
  }

  items().forEach(function (li) {
    li.addEventListener("dragstart", function (event) {
      dragged = li;
      before = order().join(",");
      li.classList.add("dragging");
      event.dataTransfer.effectAllowed = "move";
      event.dataTransfer.setData("text/plain", li.dataset.caseId);
    });
    li.addEventListener("dragend", function () {
      li.classList.remove("dragging");
      items().forEach(function (other) { other.classList.remove("drop-target"); });
      dragged = null;
      renumber();
      if (order().join(",") !== before) { save(); }
    });
  });

  // Over the upper half of another case the dragged one goes before it, over the
  // lower half after it.
  list.addEventListener("dragover", function (event) {
    if (!dragged) { return; }
    event.preventDefault();
    event.dataTransfer.dropEffect = "move";
    var target = event.target.closest ? event.target.closest("li[data-case-id]") : null;
    if (!target || target === dragged) { return; }
    items().forEach(function (other) { other.classList.toggle("drop-target", other === target); });
    var box = target.getBoundingClientRect();
    if (event.clientY < box.top + box.height / 2) {
      if (target.previousElementSibling !== dragged) { target.before(dragged); }
    } else if (target.nextElementSibling !== dragged) {
      target.after(dragged);
    }
  });
  list.addEventListener("drop", function (event) {
    if (dragged) { event.preventDefault(); }
  });
})();
