// The program's files as tabs over one editor: add, rename, delete, switch (arrow keys too).
// The first file is the entry point (the contract's default entrypoint is files[0]).

// Pure: a name the API accepts (docs/api-v1.md, "Runs": relative, no "..", no backslash...).
export function validFileName(name) {
  if (!name || name.length > 255 || name.startsWith("/") || name.includes("\\") || name.includes("\0")) return false;
  return !name.split("/").some((s) => s === "" || s === "." || s === "..");
}

export class FileTabs {
  // tablist: the role=tablist element; panel: the editor's element (the tabpanel);
  // onChange(): after any change to the set of files or the shown one.
  constructor(tablist, panel, editor, onChange) {
    this.tablist = tablist;
    this.panel = panel;
    this.editor = editor;
    this.onChange = onChange;
    this.names = [];
    this.active = "";
  }

  set(files) {
    this.editor.reset();
    this.names = files.map((f) => f.name);
    for (const f of files) this.editor.open(f.name, f.content);
    this.select(this.names[0]);
  }

  files() {
    return this.names.map((name) => ({ name, content: this.editor.text(name) }));
  }

  select(name) {
    this.active = name;
    this.editor.open(name);
    this.render();
  }

  // Why `name` cannot be used for a new file or the shown one, or "" when it can.
  problem(name, renaming) {
    if (!validFileName(name)) return "A file name is a relative path without '..', '\\' or empty parts.";
    if (this.names.includes(name) && !(renaming && name === this.active)) return `There is already a file named ${name}.`;
    return "";
  }

  add(name) {
    this.names.push(name);
    this.editor.open(name, "");
    this.select(name);
  }

  rename(name) {
    if (name === this.active) return;
    this.editor.rename(this.active, name);
    this.names[this.names.indexOf(this.active)] = name;
    this.select(name);
  }

  remove() {
    if (this.names.length <= 1) return;
    const i = this.names.indexOf(this.active);
    this.names.splice(i, 1);
    this.editor.forget(this.active);
    this.select(this.names[Math.max(0, i - 1)]);
  }

  freeName(ext) {
    let n = this.names.length + 1;
    while (this.names.includes(`file${n}.${ext}`)) n++;
    return `file${n}.${ext}`;
  }

  render() {
    this.tablist.replaceChildren(...this.names.map((name, i) => this.tab(name, i)));
    this.panel.setAttribute("aria-labelledby", `tab-${this.names.indexOf(this.active)}`);
    this.onChange();
  }

  tab(name, i) {
    const tab = document.createElement("button");
    tab.type = "button";
    tab.role = "tab";
    tab.id = `tab-${i}`;
    tab.textContent = name;
    tab.setAttribute("aria-selected", String(name === this.active));
    tab.setAttribute("aria-controls", this.panel.id);
    tab.tabIndex = name === this.active ? 0 : -1;   // one tab stop; arrows move between tabs
    if (i === 0) tab.title = "entry point";
    tab.addEventListener("click", () => this.select(name));
    tab.addEventListener("keydown", (e) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[e.key];
      if (!step) return;
      e.preventDefault();
      this.select(this.names[(i + step + this.names.length) % this.names.length]);
      this.tablist.querySelector('[aria-selected="true"]')?.focus();
    });
    return tab;
  }
}
