-- oomlint for Neovim (0.7 or later): starts `oomlint server` for Python buffers and attaches it
-- with the built-in LSP client.
--
--   require("oomlint").setup({
--     cmd = { "oomlint", "server" },          -- the binary, if it is not on PATH
--     settings = { select = { "OOM1", "OOM2" }, unsafeFixes = false },
--   })
--
-- Diagnostics appear as the buffer changes; `vim.lsp.buf.code_action()` offers each finding's
-- fix, `# noqa`, and "fix all"; `vim.lsp.buf.hover()` on a finding shows its rule's page.
local M = {}

local defaults = {
  cmd = { "oomlint", "server" },
  filetypes = { "python" },
  root_markers = { "pyproject.toml", "oomlint.toml", ".oomlint.toml", ".git" },
  settings = {},
}

local config = vim.deepcopy(defaults)
local clients = {} -- root folder -> client id

local function find_root(path)
  local dir = vim.fn.fnamemodify(path, ":p:h")
  while dir and dir ~= "" do
    for _, marker in ipairs(config.root_markers) do
      if vim.loop.fs_stat(dir .. "/" .. marker) then
        return dir
      end
    end
    local parent = vim.fn.fnamemodify(dir, ":h")
    if parent == dir then
      break
    end
    dir = parent
  end
  return vim.fn.fnamemodify(path, ":p:h")
end

local function client_for(root)
  local id = clients[root]
  if id and vim.lsp.get_client_by_id(id) then
    return id
  end
  id = vim.lsp.start_client({
    name = "oomlint",
    cmd = config.cmd,
    root_dir = root,
    workspace_folders = { { uri = vim.uri_from_fname(root), name = root } },
    init_options = { oomlint = config.settings },
    settings = { oomlint = config.settings },
    on_init = function(client)
      client.notify("workspace/didChangeConfiguration", { settings = { oomlint = config.settings } })
    end,
  })
  clients[root] = id
  return id
end

-- Attaches oomlint to a buffer (the current one by default).
function M.attach(bufnr)
  bufnr = bufnr or vim.api.nvim_get_current_buf()
  local name = vim.api.nvim_buf_get_name(bufnr)
  local root = find_root(name ~= "" and name or vim.fn.getcwd())
  local id = client_for(root)
  if id then
    vim.lsp.buf_attach_client(bufnr, id)
  end
  return id
end

function M.setup(opts)
  config = vim.tbl_deep_extend("force", vim.deepcopy(defaults), opts or {})
  local group = vim.api.nvim_create_augroup("oomlint", { clear = true })
  vim.api.nvim_create_autocmd("FileType", {
    group = group,
    pattern = config.filetypes,
    callback = function(args)
      M.attach(args.buf)
    end,
  })
end

return M
