;;; oomlint.el --- oomlint's language server for Python buffers, through eglot  -*- lexical-binding: t; -*-

;; Usage (Emacs 29, where eglot is built in; or eglot from ELPA):
;;   (add-to-list 'load-path "/path/to/oomlint/editors/emacs")
;;   (require 'oomlint)
;;   (add-hook 'python-mode-hook #'eglot-ensure)      ; or python-ts-mode-hook
;;
;; Diagnostics show through Flymake; `eglot-code-actions' offers each finding's fix, `# noqa',
;; and "Fix all"; `eldoc' on a finding shows its rule's page.

;;; Code:

(require 'eglot)

(defgroup oomlint nil
  "oomlint: PyTorch GPU-memory leaks and waste, as you type."
  :group 'tools)

(defcustom oomlint-program "oomlint"
  "The oomlint binary."
  :type 'string)

(defcustom oomlint-settings '(:unsafeFixes :json-false)
  "Settings sent to the server (the same keys as VS Code's oomlint.*)."
  :type 'plist)

(defclass oomlint-eglot-server (eglot-lsp-server) ()
  :documentation "oomlint's language server.")

(cl-defmethod eglot-initialization-options ((_server oomlint-eglot-server))
  (list :oomlint oomlint-settings))

(add-to-list 'eglot-server-programs
             `((python-mode python-ts-mode) . (oomlint-eglot-server ,oomlint-program "server")))

(provide 'oomlint)
;;; oomlint.el ends here
