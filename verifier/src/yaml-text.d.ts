/** A YAML file imported as its text: what esbuild's `text` loader gives the browser bundle (scripts/build-browser.mjs). */
declare module '*.yaml' {
  const text: string
  export default text
}
