// The CodeMirror 6 editor: one EditorView, one EditorState per file (swapped on tab change).
import { basicSetup } from "codemirror";
import { EditorState, Prec } from "@codemirror/state";
import { EditorView, keymap } from "@codemirror/view";
import { indentWithTab } from "@codemirror/commands";
import { HighlightStyle, StreamLanguage, syntaxHighlighting } from "@codemirror/language";
import { tags as t } from "@lezer/highlight";
import { python } from "@codemirror/lang-python";
import { javascript } from "@codemirror/lang-javascript";
import { cpp } from "@codemirror/lang-cpp";
import { go } from "@codemirror/lang-go";
import { java } from "@codemirror/lang-java";
import { rust } from "@codemirror/lang-rust";
import { ruby } from "@codemirror/legacy-modes/mode/ruby";
import { shell } from "@codemirror/legacy-modes/mode/shell";

const BY_EXTENSION = {
  py: () => python(),
  js: () => javascript(), mjs: () => javascript(), ts: () => javascript({ typescript: true }),
  c: () => cpp(), h: () => cpp(), cpp: () => cpp(), cc: () => cpp(), cxx: () => cpp(), hpp: () => cpp(),
  go: () => go(),
  java: () => java(),
  rs: () => rust(),
  rb: () => StreamLanguage.define(ruby),
  sh: () => StreamLanguage.define(shell),
};

export function languageForFile(name) {
  const ext = name.includes(".") ? name.split(".").pop().toLowerCase() : "";
  const make = BY_EXTENSION[ext];
  return make ? make() : [];
}

// Colours are CSS variables (style.css), so one theme serves the light and the dark scheme.
const highlight = HighlightStyle.define([
  { tag: [t.keyword, t.controlKeyword, t.moduleKeyword, t.operatorKeyword], color: "var(--tok-keyword)" },
  { tag: [t.string, t.special(t.string), t.regexp], color: "var(--tok-string)" },
  { tag: [t.number, t.bool, t.null, t.atom], color: "var(--tok-number)" },
  { tag: [t.comment, t.lineComment, t.blockComment], color: "var(--tok-comment)", fontStyle: "italic" },
  { tag: [t.function(t.variableName), t.function(t.propertyName)], color: "var(--tok-function)" },
  { tag: [t.typeName, t.className, t.namespace], color: "var(--tok-type)" },
  { tag: [t.definition(t.variableName)], color: "var(--tok-def)" },
  { tag: [t.meta, t.processingInstruction], color: "var(--tok-meta)" },
  { tag: t.invalid, color: "var(--tok-invalid)" },
]);

const theme = EditorView.theme({
  "&": { backgroundColor: "var(--editor-bg)", color: "var(--fg)", height: "100%" },
  ".cm-content": { caretColor: "var(--fg)", fontFamily: "var(--mono)" },
  ".cm-gutters": { backgroundColor: "var(--editor-gutter)", color: "var(--muted)", borderRight: "1px solid var(--border)" },
  ".cm-activeLine": { backgroundColor: "var(--editor-active)" },
  ".cm-activeLineGutter": { backgroundColor: "var(--editor-active)" },
  "&.cm-focused .cm-cursor": { borderLeftColor: "var(--fg)" },
  "&.cm-focused .cm-selectionBackground, .cm-selectionBackground, ::selection": { backgroundColor: "var(--selection)" },
  ".cm-scroller": { fontFamily: "var(--mono)", lineHeight: "1.5" },
});

export class Editor {
  // onRun: called on Mod-Enter; onChange: called after an edit.
  constructor(parent, { onRun, onChange }) {
    this.onRun = onRun;
    this.onChange = onChange;
    this.states = new Map();
    this.view = new EditorView({ parent, state: this.makeState("main.txt", "") });
  }

  makeState(name, content) {
    return EditorState.create({
      doc: content,
      extensions: [
        Prec.highest(keymap.of([{ key: "Mod-Enter", run: () => { this.onRun(); return true; } }])),
        basicSetup,
        keymap.of([indentWithTab]),
        languageForFile(name),
        syntaxHighlighting(highlight),
        theme,
        // tabindex: axe wants a focusable element in the scrolling region (the content is one already).
        EditorView.contentAttributes.of({ "aria-label": `Code editor: ${name}`, tabindex: "0" }),
        EditorView.updateListener.of((u) => { if (u.docChanged) this.onChange(); }),
      ],
    });
  }

  // Show file `name`; its state is kept, or made from `content` the first time.
  open(name, content) {
    const current = this.currentName;
    if (current !== undefined && current !== name) this.states.set(current, this.view.state);
    let state = this.states.get(name);
    if (!state) {
      state = this.makeState(name, content);
      this.states.set(name, state);
    }
    this.currentName = name;
    this.view.setState(state);
  }

  text(name) {
    if (name === this.currentName) return this.view.state.doc.toString();
    const state = this.states.get(name);
    return state ? state.doc.toString() : "";
  }

  rename(from, to) {
    const content = this.text(from);
    this.states.delete(from);
    if (this.currentName === from) this.currentName = undefined;
    this.states.set(to, this.makeState(to, content));
  }

  forget(name) {
    this.states.delete(name);
    if (this.currentName === name) this.currentName = undefined;
  }

  reset() {
    this.states.clear();
    this.currentName = undefined;
  }

  focus() {
    this.view.focus();
  }
}
