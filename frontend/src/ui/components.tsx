import type { ComponentChildren } from "preact";
import { useEffect, useId, useRef, useState } from "preact/hooks";

/** A modal built on <dialog>: focus is trapped, Escape closes, the page behind is inert. */
export function Dialog(props: {
  open: boolean;
  title: string;
  onClose: () => void;
  children: ComponentChildren;
  footer?: ComponentChildren;
  wide?: boolean;
  drawer?: boolean;
  testId?: string;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId(); // dialogs can nest (the genome viewer opens from the file drawer)
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (props.open && !dialog.open) dialog.showModal();
    if (!props.open && dialog.open) dialog.close();
  }, [props.open]);
  return (
    <dialog
      ref={ref}
      class={`dialog${props.wide ? " wide" : ""}${props.drawer ? " drawer" : ""}`}
      aria-labelledby={titleId}
      data-testid={props.testId}
      onCancel={(event) => {
        event.preventDefault();
        props.onClose();
      }}
    >
      {props.open && (
        <>
          <header class="dialog-head">
            <h2 id={titleId}>{props.title}</h2>
            <button type="button" class="icon-button" aria-label="Close" onClick={props.onClose}>
              ×
            </button>
          </header>
          <div class="dialog-body">{props.children}</div>
          {props.footer && <footer class="dialog-foot">{props.footer}</footer>}
        </>
      )}
    </dialog>
  );
}

export type Tone = "info" | "success" | "error";
interface Toast {
  id: number;
  tone: Tone;
  text: string;
}
let toastId = 0;
let toasts: Toast[] = [];
const toastListeners = new Set<() => void>();

export function notify(text: string, tone: Tone = "info"): void {
  const toast = { id: ++toastId, tone, text };
  toasts = [...toasts, toast].slice(-4);
  toastListeners.forEach((fn) => fn());
  window.setTimeout(() => dismissToast(toast.id), tone === "error" ? 9000 : 4500);
}

function dismissToast(id: number): void {
  toasts = toasts.filter((t) => t.id !== id);
  toastListeners.forEach((fn) => fn());
}

export function Toasts() {
  const [, setTick] = useState(0);
  useEffect(() => {
    const fn = () => setTick((n) => n + 1);
    toastListeners.add(fn);
    return () => toastListeners.delete(fn);
  }, []);
  return (
    <div class="toasts" role="status" aria-live="polite">
      {toasts.map((t) => (
        <div key={t.id} class={`toast ${t.tone}`} role={t.tone === "error" ? "alert" : undefined}>
          <span>{t.text}</span>
          <button type="button" class="icon-button" aria-label="Dismiss" onClick={() => dismissToast(t.id)}>
            ×
          </button>
        </div>
      ))}
    </div>
  );
}

export function Notice(props: { tone: Tone | "warn"; children: ComponentChildren; testId?: string }) {
  return (
    <div class={`notice ${props.tone}`} role={props.tone === "error" ? "alert" : "note"} data-testid={props.testId}>
      {props.children}
    </div>
  );
}

export function Empty(props: { title: string; children?: ComponentChildren }) {
  return (
    <div class="empty">
      <strong>{props.title}</strong>
      {props.children && <p>{props.children}</p>}
    </div>
  );
}

export function ProgressBar(props: { value: number; tone?: string; label: string }) {
  const pct = Math.max(0, Math.min(100, props.value * 100));
  return (
    <div
      class={`progress ${props.tone ?? ""}`}
      role="progressbar"
      aria-label={props.label}
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={Math.round(pct)}
    >
      <div class="progress-fill" style={{ width: `${pct}%` }} />
    </div>
  );
}
