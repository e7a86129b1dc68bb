// The static frontend: talks to the Flask backend's JSON API at /api/notes.
const list = document.getElementById("notes");

async function load() {
  const res = await fetch("/api/notes");
  const { notes } = await res.json();
  list.replaceChildren(...notes.map((note) => {
    const li = document.createElement("li");
    li.textContent = note.text;
    li.className = note.done ? "done" : "";
    li.onclick = async () => {
      await fetch(`/api/notes/${encodeURIComponent(note.key)}`, {
        method: "PATCH",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ done: !note.done }),
      });
      load();
    };
    return li;
  }));
}

document.getElementById("add").onsubmit = async (e) => {
  e.preventDefault();
  const text = e.target.text.value;
  await fetch("/api/notes", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ text }),
  });
  e.target.reset();
  load();
};

load();
