mock_provider "throwbox" {
  mock_data "throwbox_runtimes" {
    defaults = {
      runtimes = [{ language = "python", version = "3.11.2", aliases = ["py"], compiled = false }]
    }
  }
}

run "the_function_is_planned_with_its_files" {
  command = plan
  assert {
    condition     = throwbox_function.greet.files[0].name == "main.py" && length(output.languages) == 1 && output.languages[0] == "python"
    error_message = "the function and the runtimes data source"
  }
}
